//! The password-hashing pool: every argon2id computation of an engine runs on a fixed set of
//! OS threads, one per core, each reusing its own argon2 working memory. Work beyond the cores
//! waits in a bounded queue; when the queue is full a caller is refused at once with
//! [`Error::Overloaded`] (the server turns it into 503 + Retry-After) instead of piling up
//! requests, memory and latency. A thread per core, rather than tokio's blocking pool, keeps
//! memory at cores × m KiB whatever the load and leaves the async runtime's threads free for
//! I/O. On Linux the threads run at a lower priority (`Config::hash_nice`), so the short steps
//! of requests — database round trips, session checks — take a core as soon as they wake
//! instead of waiting for a hash's time slice to end.

use crate::credentials::password::Hasher;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce(&Hasher) + Send>;

pub(crate) struct HashPool {
    tx: Mutex<Sender<Job>>,
    /// Jobs queued or running.
    jobs: Arc<AtomicUsize>,
    threads: usize,
    queue: usize,
}

/// Counts a job until it has run (or was dropped unrun when the pool shut down).
struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashPool {
    /// `threads` workers sharing `hasher`, at niceness `nice` (Linux); at most `queue` jobs
    /// wait beyond the running ones. The workers stop when the pool is dropped.
    pub fn new(hasher: Arc<Hasher>, threads: usize, queue: usize, nice: i32) -> Result<Self> {
        let nice = nice.clamp(0, 19);
        let threads = threads.max(1);
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let (rx, hasher) = (rx.clone(), hasher.clone());
            std::thread::Builder::new()
                .name(format!("vestibule-hash-{i}"))
                .spawn(move || {
                    lower_priority(nice);
                    work(&rx, &hasher)
                })
                .map_err(|e| Error::Internal(format!("hashing thread: {e}")))?;
        }
        Ok(Self {
            tx: Mutex::new(tx),
            jobs: Arc::new(AtomicUsize::new(0)),
            threads,
            queue,
        })
    }

    /// Refuse at once when the queue is full, so a flow can turn work away before spending
    /// database reads on a request that could not be hashed anyway.
    pub fn check_capacity(&self) -> Result<()> {
        let jobs = self.jobs.load(Ordering::SeqCst);
        if jobs >= self.threads + self.queue {
            return Err(self.overloaded(jobs));
        }
        Ok(())
    }

    fn overloaded(&self, jobs: usize) -> Error {
        // Roughly how long the work ahead takes to drain, at ~25 ms a hash per thread.
        let secs = (jobs * 25 / self.threads / 1000).max(1) as u64;
        Error::Overloaded(std::time::Duration::from_secs(secs))
    }

    /// Run `f` on a hashing thread and wait for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> Result<T> {
        let before = self.jobs.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket(self.jobs.clone());
        if before >= self.threads + self.queue {
            return Err(self.overloaded(before));
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |h: &Hasher| {
            let out = f(h);
            // Free the slot before answering, so a caller that has its result never sees its
            // own job still counted (a panic in `f` frees it while unwinding).
            drop(ticket);
            // The caller may have gone away (client disconnected); the work is done anyway.
            let _ = done.send(out);
        });
        self.tx
            .lock()
            .map_err(|_| Error::Internal("hashing pool poisoned".into()))?
            .send(job)
            .map_err(|_| Error::Internal("hashing pool stopped".into()))?;
        result
            .await
            .map_err(|_| Error::Internal("a hashing job failed".into()))
    }
}

/// Give the calling thread niceness `nice` (Linux keeps niceness per thread), unless the
/// process already runs nicer than that.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    let me = rustix::thread::gettid();
    if rustix::process::getpriority_process(Some(me)).is_ok_and(|now| now >= nice) {
        return;
    }
    if let Err(e) = rustix::process::setpriority_process(Some(me), nice) {
        tracing::warn!(error = %e, "could not lower the hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

fn work(rx: &Mutex<Receiver<Job>>, hasher: &Hasher) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panicking job drops its result sender (its caller gets an error); the thread lives on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(hasher)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededEntropy;
    use crate::credentials::password::HashParams;

    fn pool(threads: usize, queue: usize) -> HashPool {
        let params = HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        let hasher = Hasher::new(params, &SeededEntropy::new(1)).unwrap();
        HashPool::new(Arc::new(hasher), threads, queue, 7).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_configured_niceness() {
        let me = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let before = me();
        let p = pool(1, 1);
        let nice = p
            .run(|_| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(nice, before.max(7));
        // The caller's own thread is untouched.
        assert_eq!(me(), before);
    }

    #[tokio::test]
    async fn runs_jobs_on_its_own_threads() {
        let p = pool(2, 4);
        let name = p
            .run(|_| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("vestibule-hash-"));
    }

    #[tokio::test]
    async fn refuses_beyond_the_queue_and_recovers() {
        let p = Arc::new(pool(1, 1));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        // One running, one queued: the pool is full.
        let mut held = vec![];
        for _ in 0..2 {
            let (p, gate) = (p.clone(), gate.clone());
            held.push(tokio::spawn(async move {
                p.run(move |_| {
                    let _ = gate.lock().unwrap().recv();
                })
                .await
            }));
        }
        while p.jobs.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(p.check_capacity(), Err(Error::Overloaded(_))));
        let refused = p.run(|_| ()).await;
        assert!(matches!(refused, Err(Error::Overloaded(_))), "{refused:?}");
        release.send(()).unwrap();
        release.send(()).unwrap();
        for h in held {
            h.await.unwrap().unwrap();
        }
        p.check_capacity().unwrap();
        p.run(|_| ()).await.unwrap();
        assert_eq!(p.jobs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let p = pool(1, 4);
        let r = p.run(|_| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(Error::Internal(_))));
        assert_eq!(p.run(|_| 7).await.unwrap(), 7);
    }
}
