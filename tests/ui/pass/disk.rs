use cache_runtime::cache_result;

// Kept off the disk tier: per-process data that must not outlive a restart.
#[cache_result("sessions", ttl = 60, disk = false)]
async fn session(id: u64) -> String {
    format!("session {id}")
}

// On the disk tier when the runtime has one (the default, spelled out).
#[cache_result("reports", ttl = 600, disk = true)]
async fn report(id: u64) -> String {
    format!("report {id}")
}

fn main() {
    let _ = (session(1), report(1));
}
