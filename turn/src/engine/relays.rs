//! Relay sockets: allocated from the configured range when the core asks,
//! read by a task each, closed when the allocation ends.

use super::*;

impl Engine {
    pub(super) fn allocate_relay(
        &mut self,
        shared: &Arc<Shared>,
        proto: Proto,
        client_addr: SocketAddr,
        allocation_transport: TransportType,
        family: AddressFamily,
    ) -> Result<SocketAddr, SocketAllocateError> {
        if allocation_transport != TransportType::Udp {
            self.stats.refuse(RefuseReason::Unsupported);
            return Err(SocketAllocateError::InsufficientCapacity);
        }
        let relay_family = match self.cfg.relay_ip {
            IpAddr::V4(_) => AddressFamily::IPV4,
            IpAddr::V6(_) => AddressFamily::IPV6,
        };
        if family != relay_family {
            self.stats.refuse(RefuseReason::Unsupported);
            return Err(SocketAllocateError::AddressFamilyNotSupported);
        }
        let (start, end) = (
            u32::from(*self.cfg.relay_ports.start()),
            u32::from(*self.cfg.relay_ports.end()),
        );
        let span = end - start + 1;
        let mut bound = None;
        for _ in 0..span {
            let port = (start + self.port_cursor % span) as u16;
            self.port_cursor = (self.port_cursor + 1) % span;
            let public = SocketAddr::new(self.cfg.public_ip, port);
            if self.relays.contains_key(&public) {
                continue;
            }
            if let Ok(sock) = bind_udp(SocketAddr::new(self.cfg.relay_ip, port)) {
                bound = Some((public, sock));
                break;
            }
        }
        let Some((public, socket)) = bound else {
            warn!("turn: no free relay port in {start}-{end}");
            self.stats.refuse(RefuseReason::Capacity);
            return Err(SocketAllocateError::InsufficientCapacity);
        };
        let socket = Arc::new(socket);
        let task = tokio::spawn(relay_task(Arc::clone(shared), Arc::clone(&socket), public));
        self.relays.insert(
            public,
            Relay {
                socket,
                task,
                proto,
            },
        );
        let client = (proto, client_addr);
        let (username, participant) = match &self.pending {
            Some((c, u, p)) if *c == client => (u.clone(), p.clone()),
            _ => (String::new(), String::new()),
        };
        let alloc = self.allocations.entry(client).or_insert_with(|| {
            *self.per_participant.entry(participant.clone()).or_insert(0) += 1;
            self.stats.allocation_created();
            info!(client = %client_addr, relay = %public, participant, "turn: allocation created");
            Allocation {
                username,
                participant,
                relays: Vec::new(),
            }
        });
        alloc.relays.push(public);
        self.stats.set_allocations(self.allocations.len());
        Ok(public)
    }

    pub(super) fn close_relay(&mut self, public: SocketAddr) {
        let Some(relay) = self.relays.remove(&public) else {
            return;
        };
        relay.task.abort();
        let mut emptied = None;
        for (key, alloc) in self.allocations.iter_mut() {
            if let Some(i) = alloc.relays.iter().position(|r| *r == public) {
                alloc.relays.swap_remove(i);
                if alloc.relays.is_empty() {
                    emptied = Some(*key);
                }
                break;
            }
        }
        if let Some(key) = emptied {
            if let Some(alloc) = self.allocations.remove(&key) {
                info!(client = %key.1, relay = %public, participant = alloc.participant, "turn: allocation closed");
                if let Some(n) = self.per_participant.get_mut(&alloc.participant) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.per_participant.remove(&alloc.participant);
                    }
                }
            }
        }
        self.stats.set_allocations(self.allocations.len());
    }
}

/// Reads one relay socket until aborted.
async fn relay_task(shared: Arc<Shared>, socket: Arc<UdpSocket>, public: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => shared.lock().on_peer(public, from, &buf[..n]),
            Err(e) => {
                debug!(relay = %public, error = %e, "turn: relay recv error");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
