// The migrations are embedded by `sqlx::migrate!`, which on stable Rust
// does not tell Cargo to rebuild when a migration is added: this does.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
