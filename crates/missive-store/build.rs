//! The schema migrations are compiled in by `sqlx::migrate!`, which cannot
//! tell cargo about a file added to their folders: this does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
