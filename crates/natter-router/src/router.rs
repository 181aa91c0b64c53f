use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::account::{Account, GLOBAL_ACCOUNT};
use crate::client::{Client, ClientInfo, ClientKind};
use crate::interest::{Hooks, InterestEvent};
use crate::local::{LocalClient, LocalOptions};
use crate::options::{Limits, RouterOptions};
use crate::stats::{RouterCounters, RouterStats};
use crate::CloseReason;

/// What every session of a router reads on its hot path.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: Arc<Limits>,
    pub(crate) counters: RouterCounters,
}

/// The router's tables. Sessions hold it weakly, so dropping the last [`Router`] closes
/// them instead of leaking them.
#[derive(Debug)]
pub(crate) struct Registry {
    clients: RwLock<HashMap<u64, Arc<Client>>>,
    accounts: RwLock<HashMap<Arc<str>, Arc<Account>>>,
    global: Arc<Account>,
    hooks: Arc<Hooks>,
    next_cid: AtomicU64,
}

impl Registry {
    pub(crate) fn remove(&self, id: u64) {
        self.clients.write().remove(&id);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let clients: Vec<Arc<Client>> = self.clients.get_mut().drain().map(|(_, c)| c).collect();
        for c in clients {
            c.close(CloseReason::ServerShutdown);
        }
    }
}

/// The routing engine: accounts, sessions, and publish -> match -> deliver.
///
/// Cheap to clone (an `Arc` inside). Two routers share nothing.
#[derive(Clone, Debug)]
pub struct Router {
    shared: Arc<Shared>,
    registry: Arc<Registry>,
}

impl Default for Router {
    fn default() -> Self {
        Router::new(RouterOptions::default())
    }
}

impl Router {
    /// A router with the given limits and an empty global account.
    pub fn new(opts: RouterOptions) -> Self {
        let hooks = Arc::new(Hooks::default());
        let global = Arc::new(Account::new(GLOBAL_ACCOUNT, hooks.clone()));
        let mut accounts = HashMap::new();
        accounts.insert(global.name_arc().clone(), global.clone());
        Router {
            shared: Arc::new(Shared {
                limits: Arc::new(Limits::new(&opts)),
                counters: RouterCounters::default(),
            }),
            registry: Arc::new(Registry {
                clients: RwLock::new(HashMap::new()),
                accounts: RwLock::new(accounts),
                global,
                hooks,
                next_cid: AtomicU64::new(1),
            }),
        }
    }

    /// The limits in force.
    pub fn options(&self) -> RouterOptions {
        self.shared.limits.load()
    }

    /// Replaces the limits (config reload). Existing sessions see them at once; sessions
    /// already over a lowered `max_subscriptions` keep what they have.
    pub fn set_options(&self, opts: RouterOptions) {
        self.shared.limits.store(&opts);
    }

    /// The global account, `"$G"`.
    pub fn global_account(&self) -> Arc<Account> {
        self.registry.global.clone()
    }

    /// The account called `name`, created empty if it does not exist.
    pub fn account(&self, name: &str) -> Arc<Account> {
        if let Some(a) = self.registry.accounts.read().get(name) {
            return a.clone();
        }
        let mut accounts = self.registry.accounts.write();
        accounts
            .entry(Arc::from(name))
            .or_insert_with(|| Arc::new(Account::new(name, self.registry.hooks.clone())))
            .clone()
    }

    /// Every account, in no particular order.
    pub fn accounts(&self) -> Vec<Arc<Account>> {
        self.registry.accounts.read().values().cloned().collect()
    }

    /// Registers a session in `account`. Its deliveries are encoded into
    /// [`Client::outbound`]; the caller must [`Client::close`] it when it ends.
    pub fn register(&self, account: &Arc<Account>, info: ClientInfo) -> Arc<Client> {
        let id = self.registry.next_cid.fetch_add(1, Ordering::Relaxed);
        let client = Client::new(
            id,
            account.clone(),
            info,
            self.shared.clone(),
            Arc::downgrade(&self.registry),
        );
        self.registry.clients.write().insert(id, client.clone());
        let c = &self.shared.counters;
        c.connections.fetch_add(1, Ordering::Relaxed);
        c.total_connections.fetch_add(1, Ordering::Relaxed);
        client
    }

    /// Opens an in-process session: no socket, deliveries arrive as [`Message`]s.
    ///
    /// [`Message`]: crate::Message
    pub fn connect(&self, opts: LocalOptions) -> LocalClient {
        let account = match &opts.account {
            Some(name) => self.account(name),
            None => self.global_account(),
        };
        let client = self.register(
            &account,
            ClientInfo {
                host: String::new(),
                port: 0,
                kind: ClientKind::Local,
            },
        );
        LocalClient::new(client, opts)
    }

    /// Router totals.
    pub fn stats(&self) -> RouterStats {
        self.shared.counters.snapshot()
    }

    /// Open sessions, by id.
    pub fn clients(&self) -> Vec<Arc<Client>> {
        let mut v: Vec<Arc<Client>> = self.registry.clients.read().values().cloned().collect();
        v.sort_by_key(|c| c.id());
        v
    }

    /// The open session with id `cid`.
    pub fn client(&self, cid: u64) -> Option<Arc<Client>> {
        self.registry.clients.read().get(&cid).cloned()
    }

    /// Closes every open session with `reason` (shutdown, lame duck end).
    pub fn close_all(&self, reason: CloseReason) {
        for c in self.clients() {
            c.close(reason);
        }
    }

    /// Calls `f` for every change of interest in any account (see [`InterestEvent`]).
    ///
    /// `f` runs inline in the subscribing or unsubscribing call, with that account's
    /// interest table locked, so events for a subject arrive in order. It must be quick
    /// and must not subscribe or unsubscribe itself. Publishing never calls it.
    pub fn on_interest(&self, f: impl Fn(&InterestEvent) + Send + Sync + 'static) {
        self.registry.hooks.add(Arc::new(f));
    }
}
