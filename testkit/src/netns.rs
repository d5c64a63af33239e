//! Network namespaces for multi-node tests: a bridge in this namespace
//! with an address, and namespaces joined to it by veth pairs, each with an
//! address of its own, so every node has its own IP as on separate
//! machines (and the test, in this namespace, reaches them all). Needs root
//! and `ip`; [`Network::create`] says why not otherwise, and the caller
//! decides what to do instead. Dropping the network deletes it all.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Networks made by this process so far: each gets its own names and /24.
static MADE: AtomicU32 = AtomicU32::new(0);

/// A bridge and the namespaces on it.
pub struct Network {
    /// `{pid}n{k}`: in every name this network makes.
    tag: String,
    bridge: String,
    /// `10.A.B`: this network's /24.
    prefix: String,
    spaces: Vec<String>,
}

/// One namespace on a [`Network`].
#[derive(Clone, Debug)]
pub struct Space {
    /// Its name, for `ip netns exec`.
    pub name: String,
    /// Its address on the bridge.
    pub ip: String,
}

fn sh(script: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    }
}

impl Network {
    /// A bridge with address `10.A.B.1/24` (from this process's id and
    /// how many networks it made before). Its ports forward at once
    /// (`forward_delay 0`): a node started right after must reach the rest.
    pub fn create() -> Result<Network, String> {
        let (pid, k) = (std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
        let tag = format!("{pid}n{k}");
        let network = Network {
            bridge: format!("oab{tag}"),
            prefix: format!("10.{}.{}", 200 + k % 50, pid % 250 + 1),
            tag,
            spaces: Vec::new(),
        };
        let (bridge, prefix) = (&network.bridge, &network.prefix);
        sh(&format!(
            "ip link add {bridge} type bridge forward_delay 0 && ip addr add {prefix}.1/24 dev {bridge} && ip link set {bridge} up"
        ))?;
        Ok(network)
    }

    /// This namespace's address on the bridge.
    pub fn host_ip(&self) -> String {
        format!("{}.1", self.prefix)
    }

    /// A new namespace on the bridge, at the next address.
    pub fn add(&mut self) -> Result<Space, String> {
        let n = self.spaces.len() + 2;
        let tag = &self.tag;
        let name = format!("onair-{tag}-{n}");
        // The veth pair is made inside the namespace: if a step fails, deleting it deletes both ends.
        let (host, inner) = (format!("oav{tag}x{n}"), format!("oai{tag}x{n}"));
        let ip = format!("{}.{n}", self.prefix);
        let bridge = &self.bridge;
        self.spaces.push(name.clone());
        sh(&format!(
            "ip netns add {name} && ip -n {name} link add {inner} type veth peer name {host} netns 1 && \
             ip link set {host} master {bridge} && ip link set {host} up && \
             ip -n {name} addr add {ip}/24 dev {inner} && \
             ip -n {name} link set {inner} up && ip -n {name} link set lo up"
        ))?;
        Ok(Space { name, ip })
    }
}

impl Space {
    /// `program` to run inside this namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for name in &self.spaces {
            let _ = sh(&format!("ip netns del {name}"));
        }
        let _ = sh(&format!("ip link del {}", self.bridge));
    }
}
