//! The stack's Lambda functions: the one list of them, and the names each goes by.
//!
//! Every function runs the same image and picks its handler with `bootstrap <name>`
//! (`ImageConfig.Command` in the template). [`Function`] is the list: `bootstrap` parses its
//! argument into one and prints its usage from [`Function::ALL`]; the deployer names the
//! template's resources (`{prefix}Function`, `{prefix}Role`, `{prefix}LogGroup`,
//! `{prefix}Version`, `{prefix}LiveAlias`, the `{prefix}MemorySize`, `{prefix}Timeout` and
//! `{prefix}PreviousVersion` parameters) and the log groups
//! (`/aws/lambda/<stack>-<name>`) from the same values, so adding a function starts here.
//! [`WsHandler`] is the subset API Gateway's WebSocket API and the broadcast route invoke, which
//! share one configuration ([`crate::config::WsConfig`]).

use std::fmt;
use std::str::FromStr;

/// The alias everything invokes each function through (`<stack>-api:live`): its version, and
/// during a canary the previous version's share, are what serves traffic. Each deploy publishes
/// a version of every function; earlier versions stay for rollbacks.
pub const LIVE_ALIAS: &str = "live";

/// One function of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `api`: the notes HTTP API behind the Function URL.
    Api,
    /// `ws-connect`: the WebSocket API's `$connect` route; records the connection, as a
    /// signed-in user when the URL carries a valid `?token=`.
    WsConnect,
    /// `ws-disconnect`: the `$disconnect` route; removes the connection.
    WsDisconnect,
    /// `ws-default`: the `$default` route, every message a client sends (note subscriptions,
    /// echoes).
    WsDefault,
    /// `ws-broadcast`: delivers an event to every subscribed connection (invoked by the API, or
    /// through the IAM-authorized broadcast route).
    WsBroadcast,
    /// `cleanup`: purges what deleted notes left (invoked by the API, and on a schedule).
    Cleanup,
    /// `guard`: returns every `live` alias to its last good version when a canary's health
    /// turns bad or its deadline passes (on the release-health alarm, and every minute).
    Guard,
}

impl Function {
    /// Every function, in the template's order.
    pub const ALL: [Function; 7] = [
        Function::Api,
        Function::WsConnect,
        Function::WsDisconnect,
        Function::WsDefault,
        Function::WsBroadcast,
        Function::Cleanup,
        Function::Guard,
    ];

    /// The handler argument (`bootstrap ws-connect`), also the function's and its log group's
    /// suffix in AWS (`<stack>-ws-connect`) and the name `noteapp logs --function` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Api => "api",
            Function::WsConnect => "ws-connect",
            Function::WsDisconnect => "ws-disconnect",
            Function::WsDefault => "ws-default",
            Function::WsBroadcast => "ws-broadcast",
            Function::Cleanup => "cleanup",
            Function::Guard => "guard",
        }
    }

    /// The prefix of the function's logical ids in the template (`WsConnect` →
    /// `WsConnectFunction`, `WsConnectRole`, `WsConnectLogGroup`, `WsConnectMemorySize`).
    pub const fn logical_prefix(self) -> &'static str {
        match self {
            Function::Api => "Api",
            Function::WsConnect => "WsConnect",
            Function::WsDisconnect => "WsDisconnect",
            Function::WsDefault => "WsDefault",
            Function::WsBroadcast => "WsBroadcast",
            Function::Cleanup => "Cleanup",
            Function::Guard => "Guard",
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Function::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown function {0:?}")]
pub struct UnknownFunction(pub String);

impl FromStr for Function {
    type Err = UnknownFunction;

    /// The function whose [`Function::name`] is `name`, exactly.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Function::ALL
            .into_iter()
            .find(|function| function.name() == name)
            .ok_or_else(|| UnknownFunction(name.to_owned()))
    }
}

/// The WebSocket functions' handlers: the subset of [`Function`] whose configuration is
/// [`crate::config::WsConfig`], each needing its own variables of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WsHandler {
    /// [`Function::WsConnect`].
    Connect,
    /// [`Function::WsDisconnect`].
    Disconnect,
    /// [`Function::WsDefault`].
    Default,
    /// [`Function::WsBroadcast`].
    Broadcast,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_parses_from_its_own_name_only() {
        for function in Function::ALL {
            assert_eq!(function.name().parse(), Ok(function));
            assert_eq!(function.to_string(), function.name());
            assert_eq!(
                function.logical_prefix().parse::<Function>(),
                Err(UnknownFunction(function.logical_prefix().to_owned()))
            );
        }
        assert!("local".parse::<Function>().is_err());
        assert!("API".parse::<Function>().is_err());
    }

    #[test]
    fn logical_prefixes_are_the_names_in_pascal_case() {
        for function in Function::ALL {
            let pascal: String = function
                .name()
                .split('-')
                .map(|word| word[..1].to_ascii_uppercase() + &word[1..])
                .collect();
            assert_eq!(function.logical_prefix(), pascal);
        }
    }
}
