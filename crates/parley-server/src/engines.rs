//! Where live sessions' engines run: each session's engine is a coroutine (with its
//! own small stack) on one of a few worker threads, not a thread of its own. An engine
//! runs until it must wait — for a seat's action, or for its records to be stored —
//! and then suspends, freeing its worker for other sessions; it is resumed when what
//! it waits for arrives. Thousands of sessions waiting for people cost a few kilobytes
//! of touched stack each and no thread.
//!
//! A coroutine stays on the worker that started it (its stack may hold data that is
//! not `Send`); sessions are spread over the workers in turn.
//!
//! An engine that blocks its thread while it works — a language-model seat waits for
//! its endpoint up to its `timeout` — runs [alone](Pool::start_alone) on a thread of
//! its own, which ends with it, so that it never holds up the sessions sharing a
//! worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

/// What an engine suspends itself with.
pub type Suspend = Yielder<(), ()>;

/// The body of an engine, and what to do if it panics.
type Body = Box<dyn FnOnce(&Suspend) + Send>;
type OnPanic = Box<dyn FnOnce(String) + Send>;

/// The stack of each engine (reserved address space; only what it touches is
/// memory). The engine's deepest work (a mediator's search) stays far below it.
const STACK_BYTES: usize = 1 << 20;

enum Message {
    Start(u64, Body, OnPanic),
    Resume(u64),
}

/// The worker threads.
pub struct Pool {
    workers: Vec<Sender<Message>>,
    /// The threads of engines running alone, by engine key.
    alone: Mutex<HashMap<u64, Sender<Message>>>,
    next_worker: AtomicUsize,
    next_key: AtomicU64,
}

/// The worker index of an engine running alone.
const ALONE: usize = usize::MAX;

/// A running engine: where it is, to resume it.
#[derive(Clone, Copy, Debug)]
pub struct Engine {
    worker: usize,
    key: u64,
}

impl Pool {
    /// The process's pool: one worker per core, at least 2, at most 16.
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16));
            Pool::new(n)
        })
    }

    fn new(n: usize) -> Pool {
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = channel();
            let spawned = std::thread::Builder::new()
                .name(format!("engines-{i}"))
                .spawn(move || work(rx, false));
            match spawned {
                Ok(_) => workers.push(tx),
                Err(e) => tracing::error!("could not start engine worker {i}: {e}"),
            }
        }
        Pool {
            workers,
            alone: Mutex::default(),
            next_worker: AtomicUsize::new(0),
            next_key: AtomicU64::new(0),
        }
    }

    /// How many worker threads run engines.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Starts an engine: `body` runs on a worker until it suspends or ends; `on_panic`
    /// is told if it panics (the engine is then gone).
    pub fn start(
        &self,
        body: impl FnOnce(&Suspend) + Send + 'static,
        on_panic: impl FnOnce(String) + Send + 'static,
    ) -> Result<Engine, String> {
        if self.workers.is_empty() {
            return Err("no engine worker is running".into());
        }
        let worker = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.workers[worker]
            .send(Message::Start(key, Box::new(body), Box::new(on_panic)))
            .map_err(|_| "the engine worker has stopped".to_string())?;
        Ok(Engine { worker, key })
    }

    /// Starts an engine on a thread of its own, for an engine that blocks while it
    /// works (a model seat waiting for its endpoint); the thread ends with the engine.
    pub fn start_alone(
        &'static self,
        body: impl FnOnce(&Suspend) + Send + 'static,
        on_panic: impl FnOnce(String) + Send + 'static,
    ) -> Result<Engine, String> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel();
        tx.send(Message::Start(key, Box::new(body), Box::new(on_panic)))
            .map_err(|_| "the engine's thread could not be told to start".to_string())?;
        self.lock_alone().insert(key, tx);
        let spawned = std::thread::Builder::new()
            .name(format!("engine-{key}"))
            .spawn(move || {
                work(rx, true);
                self.lock_alone().remove(&key);
            });
        if let Err(e) = spawned {
            self.lock_alone().remove(&key);
            return Err(format!("could not start the engine's thread: {e}"));
        }
        Ok(Engine { worker: ALONE, key })
    }

    fn lock_alone(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Sender<Message>>> {
        self.alone.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many engines run alone now.
    pub fn running_alone(&self) -> usize {
        self.lock_alone().len()
    }

    /// Resumes a suspended engine (it looks again at what it waits for; a resume it
    /// did not need costs one look). An engine that has ended ignores it.
    pub fn resume(&self, engine: Engine) {
        if engine.worker == ALONE {
            if let Some(thread) = self.lock_alone().get(&engine.key) {
                let _ = thread.send(Message::Resume(engine.key));
            }
        } else if let Some(worker) = self.workers.get(engine.worker) {
            let _ = worker.send(Message::Resume(engine.key));
        }
    }
}

struct Running {
    coroutine: Coroutine<(), (), ()>,
    on_panic: Option<OnPanic>,
}

/// Runs the engines `messages` start and resumes; `alone`: the one engine of its
/// thread, which returns when it has ended.
fn work(messages: Receiver<Message>, alone: bool) {
    let mut running: HashMap<u64, Running> = HashMap::new();
    let mut started = false;
    loop {
        if alone && started && running.is_empty() {
            return;
        }
        let Ok(message) = messages.recv() else {
            return;
        };
        started = true;
        let key = match message {
            Message::Start(key, body, on_panic) => {
                let stack = match DefaultStack::new(STACK_BYTES) {
                    Ok(stack) => stack,
                    Err(e) => {
                        on_panic(format!("could not allocate the engine's stack: {e}"));
                        continue;
                    }
                };
                let coroutine = Coroutine::with_stack(stack, move |suspend: &Suspend, ()| {
                    body(suspend);
                });
                running.insert(
                    key,
                    Running {
                        coroutine,
                        on_panic: Some(on_panic),
                    },
                );
                key
            }
            Message::Resume(key) => key,
        };
        let Some(engine) = running.get_mut(&key) else {
            continue;
        };
        if engine.coroutine.done() {
            running.remove(&key);
            continue;
        }
        let step =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.coroutine.resume(())));
        match step {
            Ok(CoroutineResult::Yield(())) => {}
            Ok(CoroutineResult::Return(())) => {
                running.remove(&key);
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                if let Some(mut gone) = running.remove(&key) {
                    if let Some(on_panic) = gone.on_panic.take() {
                        on_panic(what);
                    }
                }
            }
        }
    }
}
