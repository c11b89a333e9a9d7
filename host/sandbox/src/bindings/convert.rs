//! One exhaustive conversion per type that crosses the WIT edge. Records
//! are destructured whole, so a field added to the WIT is a compile error
//! here until it is carried; enums are matched case by case for the same
//! reason.

use std::time::Duration;

use super::generated::wasimap::imap::{
    secrets as wit_secrets, timezone as wit_tz, transport as wit, types as wit_types,
};
use super::generated::watcher::exports::wasimap::imap::watch as wit_watch;
use super::generated_async::wasimap::imap::{secrets as wit_async_secrets, transport as wit_async};
use crate::batch::{Batch, Session, TlsMode};
use crate::policy::Wording;
use crate::secrets::RevealError;
use crate::timezone::{LocalOffset, StructTime};
use crate::transport::TlsOptions;
use crate::transport::{ConnectOptions, ErrorKind, TransportError};

/// Milliseconds from WIT to a `Duration`; `None` and 0 mean no limit.
pub(super) fn duration(ms: Option<u32>) -> Option<Duration> {
    ms.filter(|&m| m > 0).map(|m| Duration::from_millis(u64::from(m)))
}

impl From<ErrorKind> for wit_types::ErrorKind {
    fn from(kind: ErrorKind) -> Self {
        use wit_types::ErrorKind as W;
        match kind {
            ErrorKind::Eof => W::Eof,
            ErrorKind::Timeout => W::Timeout,
            ErrorKind::Refused => W::Refused,
            ErrorKind::Unreachable => W::Unreachable,
            ErrorKind::TlsCertificate => W::TlsCertificate,
            ErrorKind::TlsHandshake => W::TlsHandshake,
            ErrorKind::Bye => W::Bye,
            ErrorKind::Bad => W::Bad,
            ErrorKind::No => W::No,
            ErrorKind::State => W::State,
            ErrorKind::Limit => W::Limit,
            ErrorKind::Malformed => W::Malformed,
            ErrorKind::Denied => W::Denied,
            ErrorKind::Usage => W::Usage,
            ErrorKind::Readonly => W::Readonly,
            ErrorKind::Io => W::Io,
        }
    }
}

/// The transport's and the secrets' records, which each `bindgen!` run
/// generates anew (wasmtime remaps resources and whole interfaces, not
/// single records): one conversion, written once for both embeddings.
macro_rules! transport_records {
    ($wit:ident, $secrets:ident) => {
        impl $secrets::RevealError {
            /// A failed reveal, its denial worded by `wording`.
            pub(super) fn worded(e: RevealError, wording: Wording) -> Self {
                let kind = match &e {
                    RevealError::Denied(_) => $secrets::RevealFailure::Denied,
                    RevealError::Unavailable(_) => $secrets::RevealFailure::Unavailable,
                    RevealError::Unsendable(_) => $secrets::RevealFailure::Unsendable,
                };
                $secrets::RevealError {
                    kind,
                    message: e.worded(wording),
                }
            }
        }

        impl From<TransportError> for $wit::TransportError {
            fn from(TransportError { kind, message, errno }: TransportError) -> Self {
                $wit::TransportError {
                    kind: kind.into(),
                    message,
                    errno,
                }
            }
        }

        impl From<$wit::ConnectOptions> for ConnectOptions {
            fn from(o: $wit::ConnectOptions) -> Self {
                let $wit::ConnectOptions {
                    connect_timeout_ms,
                    read_timeout_ms,
                } = o;
                ConnectOptions {
                    connect_timeout: duration(connect_timeout_ms),
                    read_timeout: duration(read_timeout_ms),
                }
            }
        }
    };
}

transport_records!(wit, wit_secrets);
transport_records!(wit_async, wit_async_secrets);

impl From<wit_types::TlsOptions> for TlsOptions {
    fn from(o: wit_types::TlsOptions) -> Self {
        let wit_types::TlsOptions {
            ca_pem,
            ca_file,
            server_name,
            client_cert_pem,
            client_key_pem,
            dangerously_accept_invalid_certs,
        } = o;
        TlsOptions {
            ca_pem,
            ca_file,
            server_name,
            client_cert_pem,
            client_key_pem,
            dangerously_accept_invalid_certs,
        }
    }
}

impl From<TlsOptions> for wit_types::TlsOptions {
    fn from(o: TlsOptions) -> Self {
        let TlsOptions {
            ca_pem,
            ca_file,
            server_name,
            client_cert_pem,
            client_key_pem,
            dangerously_accept_invalid_certs,
        } = o;
        wit_types::TlsOptions {
            ca_pem,
            ca_file,
            server_name,
            client_cert_pem,
            client_key_pem,
            dangerously_accept_invalid_certs,
        }
    }
}

impl From<wit_types::StructTime> for StructTime {
    fn from(t: wit_types::StructTime) -> Self {
        let wit_types::StructTime {
            year,
            mon,
            mday,
            hour,
            min,
            sec,
            wday,
            yday,
            isdst,
        } = t;
        StructTime {
            year,
            mon,
            mday,
            hour,
            min,
            sec,
            wday,
            yday,
            isdst,
        }
    }
}

impl From<LocalOffset> for wit_tz::LocalOffset {
    fn from(LocalOffset { utc_offset, is_dst }: LocalOffset) -> Self {
        wit_tz::LocalOffset { utc_offset, is_dst }
    }
}

impl From<TlsMode> for wit_watch::TlsMode {
    fn from(mode: TlsMode) -> Self {
        match mode {
            TlsMode::None => wit_watch::TlsMode::None,
            TlsMode::Starttls => wit_watch::TlsMode::Starttls,
            TlsMode::Implicit => wit_watch::TlsMode::Implicit,
        }
    }
}

impl From<Session> for wit_watch::Session {
    fn from(s: Session) -> Self {
        let Session {
            host,
            port,
            tls,
            tls_options,
            user,
            secret,
        } = s;
        wit_watch::Session {
            host,
            port,
            tls: tls.into(),
            tls_options: tls_options.into(),
            user,
            secret,
        }
    }
}

impl From<Batch> for wit_watch::Batch {
    fn from(b: Batch) -> Self {
        let Batch {
            account,
            mailbox,
            uidvalidity,
            uids,
            attempt,
            session,
            args,
        } = b;
        wit_watch::Batch {
            account,
            mailbox,
            uidvalidity,
            uids,
            attempt,
            session: session.into(),
            args,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_keeps_its_wit_name() {
        // The WIT enum's Debug spells the case; the core names it in WIT
        // kebab case.
        for &kind in ErrorKind::ALL {
            let wit = format!("{:?}", wit_types::ErrorKind::from(kind));
            let camel: String = kind
                .name()
                .split('-')
                .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
                .collect();
            assert!(wit.ends_with(&camel), "{kind:?} became {wit}");
        }
    }

    #[test]
    fn zero_and_absent_timeouts_mean_no_limit() {
        let o = ConnectOptions::from(wit::ConnectOptions {
            connect_timeout_ms: Some(0),
            read_timeout_ms: Some(1500),
        });
        assert_eq!(o.connect_timeout, None);
        assert_eq!(o.read_timeout, Some(Duration::from_millis(1500)));
    }
}
