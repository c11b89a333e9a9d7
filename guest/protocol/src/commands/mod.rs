//! The command table: every imaplib method declared once, with its
//! arguments' grammar positions, its IMAP command and its result rule.
//! Beside it, the argument builders of the methods whose arguments need
//! more than the table's encodings (`builders.rs`) and the result rules
//! ([`Finish`], in `finish.rs`): adding a method is a row here, plus its
//! builder in `builders.rs` when it is a `written` one.
//!
//! From one declaration `command_table!` writes the [`Client`] method that
//! starts the command (for the methods whose arguments need only the
//! table's encodings), the blocking [`Imap4`] method that drives it, and the
//! [`COMMANDS`] list that the WIT contract, the shell plugin and the SDK
//! are checked against (`tests/command_table.rs` fails when `client.wit`
//! and the table disagree; it also holds the Python `imaplib` module to
//! it). The allowed states are imaplib's `Commands` table, keyed by the
//! IMAP command ([`crate::session::COMMAND_STATES`]).

mod builders;
mod finish;

pub use finish::Finish;

use crate::client::Client;
use crate::error::Result;
use crate::imap4::{Imap4, Transport};
use crate::util::TimeValue;
use crate::Response;

/// One imaplib method of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// imaplib's method name (`move` for Rust's `move_`).
    pub method: &'static str,
    /// imaplib's parameter names, in order (`*args` as `args`).
    pub params: &'static [&'static str],
    /// The IMAP command it sends (`None`: it sends none, or chooses).
    pub command: Option<&'static str>,
}

/// imaplib's spelling of a table identifier (`move_` is `move`).
pub fn method_name(ident: &'static str) -> &'static str {
    ident.strip_suffix('_').unwrap_or(ident)
}

macro_rules! command_table {
    (
        encoded {
            $( $(#[$edoc:meta])* $em:ident ( $($ea:ident : $ek:ident),* ) => $ename:literal, $efinish:expr; )*
        }
        written {
            $( $(#[$wdoc:meta])* $wm:ident ( $($wa:ident : $wt:ty),* ) => $wname:expr; )*
        }
        driven {
            $( $dm:ident ( $($da:ident),* ) => $dname:expr; )*
        }
    ) => {
        /// The commands whose arguments the table's encodings cover.
        impl Client {
            $(
                $(#[$edoc])*
                pub fn $em(&mut self, $($ea: &str),*) -> Result<()> {
                    self.check_open()?;
                    let args = [$(self.$ek($ea, stringify!($ea))?),*];
                    self.start($ename, &args, None, None, $efinish)
                }
            )*
        }

        /// The blocking methods: start the command, drive it to its end.
        impl<T: Transport> Imap4<T> {
            $(
                $(#[$edoc])*
                pub fn $em(&mut self, $($ea: &str),*) -> Result<Response> {
                    self.client_mut().$em($($ea),*)?;
                    self.run()
                }
            )*
            $(
                $(#[$wdoc])*
                pub fn $wm(&mut self, $($wa: $wt),*) -> Result<Response> {
                    self.client_mut().$wm($($wa),*)?;
                    self.run()
                }
            )*
        }

        /// Every imaplib method wasimap offers, in the table's order.
        pub const COMMANDS: &[CommandSpec] = &[
            $( CommandSpec { method: stringify!($em), params: &[$(stringify!($ea)),*], command: Some($ename) }, )*
            $( CommandSpec { method: stringify!($wm), params: &[$(stringify!($wa)),*], command: $wname }, )*
            $( CommandSpec { method: stringify!($dm), params: &[$(stringify!($da)),*], command: $dname }, )*
        ];
    };
}

/// The table's methods whose arguments are all strings, for crates that
/// write their forwarders from the table (the WIT glue, the shell plugin):
/// `string_commands!(callback)` expands to `callback! { encoded { … } }`,
/// each entry `method(param: encoding, …) => "COMMAND", result_rule;`.
/// Extra tokens after the callback are passed on after the list.
#[macro_export]
macro_rules! string_commands {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            encoded {

                /// `capability()`.
                capability() => "CAPABILITY", Finish::Untagged("CAPABILITY".into());
                /// `check()`.
                check() => "CHECK", Finish::Plain;
                /// `close()`: the state is AUTH afterwards, even on failure.
                close() => "CLOSE", Finish::ToAuth;
                /// `copy(message_set, new_mailbox)`.
                copy(message_set: structural_arg, new_mailbox: astring_arg) => "COPY", Finish::Plain;
                /// `create(mailbox)`.
                create(mailbox: astring_arg) => "CREATE", Finish::Plain;
                /// `delete(mailbox)`.
                delete(mailbox: astring_arg) => "DELETE", Finish::Plain;
                /// `deleteacl(mailbox, who)`.
                deleteacl(mailbox: astring_arg, who: astring_arg) => "DELETEACL", Finish::Plain;
                /// `expunge()`.
                expunge() => "EXPUNGE", Finish::Untagged("EXPUNGE".into());
                /// `fetch(message_set, message_parts)`.
                fetch(message_set: structural_arg, message_parts: structural_arg) => "FETCH", Finish::Untagged("FETCH".into());
                /// `getacl(mailbox)`.
                getacl(mailbox: astring_arg) => "GETACL", Finish::Untagged("ACL".into());
                /// `getquota(root)`.
                getquota(root: astring_arg) => "GETQUOTA", Finish::Untagged("QUOTA".into());
                /// `move(message_set, new_mailbox)` (RFC 6851).
                move_(message_set: structural_arg, new_mailbox: astring_arg) => "MOVE", Finish::Plain;
                /// `myrights(mailbox)`.
                myrights(mailbox: astring_arg) => "MYRIGHTS", Finish::Untagged("MYRIGHTS".into());
                /// `namespace()`.
                namespace() => "NAMESPACE", Finish::Untagged("NAMESPACE".into());
                /// `noop()`.
                noop() => "NOOP", Finish::Plain;
                /// `partial(message_num, message_part, start, length)`.
                partial(message_num: structural_arg, message_part: structural_arg, start: structural_arg, length: structural_arg)
                    => "PARTIAL", Finish::Untagged("FETCH".into());
                /// `proxyauth(user)`.
                proxyauth(user: astring_arg) => "PROXYAUTH", Finish::Plain;
                /// `rename(oldmailbox, newmailbox)`.
                rename(old_mailbox: astring_arg, new_mailbox: astring_arg) => "RENAME", Finish::Plain;
                /// `setacl(mailbox, who, what)`.
                setacl(mailbox: astring_arg, who: astring_arg, what: astring_arg) => "SETACL", Finish::Plain;
                /// `setquota(root, limits)`.
                setquota(root: astring_arg, limits: structural_arg) => "SETQUOTA", Finish::Untagged("QUOTA".into());
                /// `status(mailbox, names)`.
                status(mailbox: astring_arg, names: structural_arg) => "STATUS", Finish::Untagged("STATUS".into());
                /// `subscribe(mailbox)`.
                subscribe(mailbox: astring_arg) => "SUBSCRIBE", Finish::Plain;
                /// `unselect()`: the state is AUTH afterwards, even on failure.
                unselect() => "UNSELECT", Finish::ToAuth;
                /// `unsubscribe(mailbox)`.
                unsubscribe(mailbox: astring_arg) => "UNSUBSCRIBE", Finish::Plain;
            }
            $($($extra)*)?
        }
    };
}

string_commands! {
    command_table,
    written {
        /// `append(mailbox, flags, date_time, message)`.
        append(mailbox: &str, flags: Option<&str>, date_time: Option<&TimeValue>, message: &[u8]) => Some("APPEND");
        /// `authenticate(mechanism, authobject)` with a built-in mechanism.
        ///
        /// # Errors
        /// `error` with the server's text when the reply is not OK (as
        /// imaplib), or for a mechanism that is not built in.
        authenticate(mechanism: &str, user: &str, secret: &str) => Some("AUTHENTICATE");
        /// `enable(capability)`.
        enable(capability: &str) => Some("ENABLE");
        /// `getannotation(mailbox, entry, attribute)`.
        getannotation(mailbox: &str, entry: &str, attribute: &str) => Some("GETANNOTATION");
        /// `list(directory='""', pattern='*')`.
        list(directory: Option<&str>, pattern: Option<&str>) => Some("LIST");
        /// `login(user, password)`: a reply other than OK raises `error`.
        login(user: &str, password: &str) => Some("LOGIN");
        /// `login_cram_md5(user, password)`.
        login_cram_md5(user: &str, password: &str) => Some("AUTHENTICATE");
        /// `logout()`: returns `('BYE', [...])` and closes the connection.
        logout() => Some("LOGOUT");
        /// `lsub(directory='""', pattern='*')`.
        lsub(directory: Option<&str>, pattern: Option<&str>) => Some("LSUB");
        /// `search(charset, *criteria)`.
        search(charset: Option<&str>, criteria: &[String]) => Some("SEARCH");
        /// `select(mailbox='INBOX', readonly=False)`.
        select(mailbox: Option<&str>, readonly: bool) => None;
        /// `setannotation(*args)`.
        setannotation(args: &[String]) => Some("SETANNOTATION");
        /// `sort(sort_criteria, charset, *search_criteria)`.
        sort(sort_criteria: &str, charset: &str, search_criteria: &[String]) => Some("SORT");
        /// `store(message_set, command, flags)`.
        store(message_set: &str, command: &str, flags: &str) => Some("STORE");
        /// `thread(threading_algorithm, charset, *search_criteria)`.
        thread(threading_algorithm: &str, charset: &str, search_criteria: &[String]) => Some("THREAD");
        /// `uid(command, *args)`.
        uid(command: &str, args: &[String]) => Some("UID");
        /// `xatom(name, *args)`: unknown names become allowed in the current state.
        xatom(name: &str, args: &[String]) => None;
    }
    driven {
        getquotaroot(mailbox) => Some("GETQUOTAROOT");
        recent() => Some("NOOP");
        response(code) => None;
        starttls(tls) => Some("STARTTLS");
        idle(duration) => Some("IDLE");
        send(data) => None;
        read(size) => None;
        readline() => None;
        shutdown() => None;
        // wasimap's own: how a connection opens, secrets, the caller-driven
        // AUTHENTICATE, the streaming FETCHes, APPEND from a host-held
        // body, and imaplib's attributes.
        open_tcp(host, port, timeout) => None;
        open_tls(host, port, timeout, tls) => None;
        open_stream(command, timeout) => None;
        open_lent(timeout) => None;
        login_secret(user, secret_name) => Some("LOGIN");
        authenticate_secret(mechanism, user, secret_name) => Some("AUTHENTICATE");
        authenticate_start(mechanism, initial_response) => Some("AUTHENTICATE");
        authenticate_step(response) => None;
        fetch_stream(message_set, message_parts, uid) => Some("FETCH");
        fetch_items(message_set, message_parts, uid) => Some("FETCH");
        append_body(mailbox, flags, date_time, message) => Some("APPEND");
        capabilities() => None;
        protocol_version() => None;
        state() => None;
        welcome() => None;
        debug() => None;
        set_debug(level) => None;
        max_line() => None;
        set_max_line(limit) => None;
        utf8_enabled() => None;
        tag_prefix() => None;
        untagged_responses() => None;
    }
}

/// imaplib's name of a table entry (`move_` is `move`).
pub fn imaplib_name(spec: &CommandSpec) -> &'static str {
    method_name(spec.method)
}

/// The table entry of imaplib's method `name`.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| imaplib_name(c) == name)
}
