//! MTNFQ: a range of queues, one socket and one thread each; every thread runs the
//! stacks itself (`SourceSetup::thread_emitter`), so one queue's verdict latency never
//! waits behind another's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ulogd_core::{Emit, Flow, PluginError, Source, SourceSetup, Wake};

use super::config::NfqConfig;
use super::queue::{bind_queue, sum_counters, Done, Queue};
use super::BATCH;
use crate::nl::RecvBuf;

/// MTNFQ: one socket and one thread per queue, each running the stacks itself.
pub(crate) struct Mtnfq {
    pub(crate) cfg: NfqConfig,
    pub(crate) queues: Vec<Arc<Queue>>,
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
    pub(crate) stop: Arc<AtomicBool>,
}

fn queue_thread(
    q: Arc<Queue>,
    cfg: NfqConfig,
    mut emit: Box<dyn Emit + Send>,
    stop: Arc<AtomicBool>,
) {
    q.set_reader();
    let mut rx = RecvBuf::batched(cfg.bufsize, super::QUEUE_BATCH);
    let mut drain = |emit: &mut dyn Emit| loop {
        let mut budget = BATCH;
        match q.pump(&mut rx, &cfg, &mut budget, emit) {
            Ok(Flow::Again) => q.flush(),
            Ok(_) => {
                q.flush();
                return;
            }
            Err(e) => {
                log::error!("{e}");
                q.flush();
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
    };
    while !stop.load(Ordering::Acquire) {
        if q.sock.wait_readable(Duration::from_millis(100)) {
            drain(&mut *emit);
        }
    }
    // Shutdown: what is already in the socket still goes through the stacks.
    drain(&mut *emit);
    q.finish();
}

impl Source for Mtnfq {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        for i in 0..self.cfg.count {
            self.queues.push(bind_queue(&self.cfg, self.cfg.queue + i)?);
        }
        setup.on_done(Arc::new(Done {
            base: self.cfg.queue,
            queues: self.queues.clone(),
        }));
        for q in &self.queues {
            let emit = setup.thread_emitter();
            let (q, cfg, stop) = (q.clone(), self.cfg.clone(), self.stop.clone());
            let h = std::thread::Builder::new()
                .name(format!("ulogd-nfq-{}", q.queue))
                .spawn(move || queue_thread(q, cfg, emit, stop))
                .map_err(|e| PluginError::new(format!("cannot start queue thread: {e}")))?;
            self.threads.push(h);
        }
        // Nothing for the loop to read; a slow timer keeps the source idle.
        setup.add_timer(Duration::from_secs(1), Some(Duration::from_secs(1)));
        Ok(())
    }

    fn run(&mut self, _wake: Wake, _emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        Ok(Flow::Idle)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        sum_counters(&self.queues)
    }
}

impl Drop for Mtnfq {
    fn drop(&mut self) {
        self.stop();
    }
}
