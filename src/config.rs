//! Configuration shared by everything that starts a stack: the CLI, the preload shim and the C API.
//!
//! Read from `TAPSTACK_*` environment variables; the CLI's flags set the same fields by the same
//! names, so `--addr 10.77.0.2/24` and `TAPSTACK_ADDR=10.77.0.2/24` are one setting. A bad value is
//! reported with the variable's name, the value and what was expected — never a panic.

use std::ffi::OsString;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::wire::MacAddr;

/// Every variable this module reads, with what it means and its default, for `--help`.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("TAPSTACK_IFACE", "TAP interface to attach to", "tap0"),
    (
        "TAPSTACK_ADDR",
        "our IPv4 address and prefix (CIDR)",
        "10.77.0.2/24",
    ),
    (
        "TAPSTACK_GATEWAY",
        "default gateway",
        "first host of the prefix",
    ),
    (
        "TAPSTACK_MAC",
        "our Ethernet address",
        "02:74:73 + last three bytes of the address",
    ),
    (
        "TAPSTACK_PCAP",
        "record every frame in and out to this pcap file",
        "off",
    ),
    (
        "TAPSTACK_LOG",
        "log filter, env_logger syntax (e.g. info, tapstack=debug)",
        "warn",
    ),
    (
        "TAPSTACK_DNS",
        "DNS servers for name lookups, comma-separated IPv4 addresses",
        "none (lookups not in /etc/hosts fail with EAI_AGAIN)",
    ),
    (
        "TAPSTACK_DNS_SEARCH",
        "search domains, comma-separated: a name with no dot is asked with each in turn, then as \
         given (resolv.conf's search, ndots:1); a name with a dot is asked as given first",
        "none",
    ),
    (
        "TAPSTACK_DNS_OPTIONS",
        "resolver options, as resolv.conf's options line: ndots:N (0 to 15; a name with fewer \
         dots is asked with the search domains first), timeout:SECONDS (1 to 30, per try), \
         attempts:N (1 to 5 rounds over the servers)",
        "ndots:1 timeout:5 attempts:2",
    ),
    (
        "TAPSTACK_OFFLOAD",
        "on: TCP segments of up to 64 KiB and unfinished checksums cross the TAP (virtio-net \
         header), cut and checked by the kernel; off: one MTU-sized frame at a time",
        "on",
    ),
    (
        "TAPSTACK_MAX_SOCKETS",
        "the most sockets the stack holds (connections closing and in TIME-WAIT included); past \
         it a new socket gets ENOBUFS and a SYN to a listener a SYN cookie or nothing",
        "65536",
    ),
];

/// `TAPSTACK_MAX_SOCKETS` by default.
pub const DEFAULT_MAX_SOCKETS: usize = 65_536;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub iface: String,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    /// `None` only on a /31 or /32 with no gateway given; otherwise the given or default gateway.
    pub gateway: Option<Ipv4Addr>,
    pub mac: MacAddr,
    pub pcap: Option<PathBuf>,
    pub log: Option<String>,
    /// DNS servers, asked in order (port 53). Empty: names not in /etc/hosts cannot be resolved.
    pub dns: Vec<Ipv4Addr>,
    /// Search domains (`TAPSTACK_DNS_SEARCH`), without trailing dots.
    pub dns_search: Vec<String>,
    /// The resolver's options (`TAPSTACK_DNS_OPTIONS`).
    pub dns_options: DnsOptions,
    /// Checksum and segmentation offload on the TAP (`TAPSTACK_OFFLOAD`).
    pub offload: bool,
    /// The bound on the stack's socket table (`TAPSTACK_MAX_SOCKETS`).
    pub max_sockets: usize,
}

/// A setting that could not be used: which variable, what it held, what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: expected {}",
            self.var, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// The settings as given, before defaults that depend on each other are filled in.
#[derive(Default)]
pub struct Settings {
    iface: Option<String>,
    addr: Option<(Ipv4Addr, u8)>,
    gateway: Option<Ipv4Addr>,
    mac: Option<MacAddr>,
    pcap: Option<PathBuf>,
    log: Option<String>,
    dns: Option<Vec<Ipv4Addr>>,
    dns_search: Option<Vec<String>>,
    dns_options: Option<DnsOptions>,
    offload: Option<bool>,
    max_sockets: Option<usize>,
}

fn error(var: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError {
        var: var.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// A search domain as given (a trailing dot allowed), if it is a name a query can carry.
/// The resolver's options, as resolv.conf(5) names them (glibc's defaults and bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsOptions {
    /// A name with at least this many dots is asked as given before the search domains.
    pub ndots: u8,
    /// How long one try waits for its reply, in seconds.
    pub timeout_secs: u8,
    /// Rounds over all the servers.
    pub attempts: u8,
}

impl Default for DnsOptions {
    fn default() -> DnsOptions {
        DnsOptions {
            ndots: 1,
            timeout_secs: 5,
            attempts: 2,
        }
    }
}

impl DnsOptions {
    /// `ndots:N timeout:S attempts:N`, separated by spaces or commas, each at most once; what
    /// is not given keeps its default. None for anything else (glibc's RES_OPTIONS ignores what
    /// it does not know; a setting of ours says so instead).
    fn parse(value: &str) -> Option<DnsOptions> {
        let mut o = DnsOptions::default();
        let mut seen = Vec::new();
        for item in value.split([' ', ',', '\t']).filter(|i| !i.is_empty()) {
            let (name, n) = item.split_once(':')?;
            let n: u8 = n.parse().ok()?;
            if seen.contains(&name) {
                return None;
            }
            seen.push(name);
            match name {
                "ndots" if n <= 15 => o.ndots = n,
                "timeout" if (1..=30).contains(&n) => o.timeout_secs = n,
                "attempts" if (1..=5).contains(&n) => o.attempts = n,
                _ => return None,
            }
        }
        Some(o)
    }
}

impl fmt::Display for DnsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ndots:{} timeout:{} attempts:{}",
            self.ndots, self.timeout_secs, self.attempts
        )
    }
}

fn search_domain(s: &str) -> Option<String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    let labels_fit = name
        .split('.')
        .all(|l| (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_graphic()));
    (labels_fit && name.len() <= 253).then(|| name.to_string())
}

/// What `TAPSTACK_LOG` must look like, for its error message.
const LOG_SYNTAX: &str =
    "a log filter in env_logger syntax: comma-separated LEVEL or TARGET=LEVEL \
     items, LEVEL one of off, error, warn, info, debug, trace (like info or warn,tapstack=debug), \
     optionally followed by /TEXT to keep only messages containing TEXT";

/// Checks a log filter against the grammar env_logger's `parse_filters` accepts (its `parse_spec`),
/// which on a bad item only prints a warning and goes on without it: we would rather say so.
/// A bare word that is not a level is a target name, so `tapstack` alone is valid.
fn valid_log_filter(spec: &str) -> bool {
    let mut parts = spec.split('/');
    let items = parts.next().unwrap_or_default();
    // Without env_logger's `regex` feature the text after '/' is a plain substring: anything goes.
    let _text = parts.next();
    if parts.next().is_some() {
        return false;
    }
    items
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .all(|item| {
            let mut sides = item.split('=');
            match (sides.next(), sides.next().map(str::trim), sides.next()) {
                (Some(_), None, None) | (Some(_), Some(""), None) => true,
                (Some(_), Some(level), None) => log::LevelFilter::from_str(level).is_ok(),
                _ => false,
            }
        })
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/').unwrap_or((s, "24"));
    let ip = Ipv4Addr::from_str(ip).ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip, len))
}

impl Settings {
    /// Reads every `TAPSTACK_*` variable that is set. A value that is not UTF-8 is an error,
    /// not "unset": a setting must never be dropped without a word.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_os_lookup(|var| std::env::var_os(var))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Settings::from_os_lookup(|var| lookup(var).map(OsString::from))
    }

    fn from_os_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        for (var, _, _) in VARIABLES {
            match lookup(var).map(OsString::into_string) {
                None => {}
                Some(Ok(value)) => settings.set(var, &value)?,
                Some(Err(raw)) => {
                    return Err(error(var, &raw.to_string_lossy(), "a value in UTF-8"));
                }
            }
        }
        Ok(settings)
    }

    /// Sets one variable by name (the CLI's flags come through here too).
    pub fn set(&mut self, var: &str, value: &str) -> Result<(), ConfigError> {
        match var {
            "TAPSTACK_IFACE" => {
                if value.is_empty() || value.len() >= 16 || value.contains(['/', ' ']) {
                    return Err(error(var, value, "an interface name of 1 to 15 characters"));
                }
                self.iface = Some(value.to_string());
            }
            "TAPSTACK_ADDR" => {
                let cidr =
                    parse_cidr(value).filter(|(ip, _)| !ip.is_unspecified() && !ip.is_multicast());
                self.addr = Some(cidr.ok_or_else(|| {
                    error(
                        var,
                        value,
                        "a unicast IPv4 address with prefix length, like 10.77.0.2/24",
                    )
                })?);
            }
            "TAPSTACK_GATEWAY" => {
                let ip = Ipv4Addr::from_str(value)
                    .ok()
                    .filter(|ip| !ip.is_unspecified());
                self.gateway =
                    Some(ip.ok_or_else(|| error(var, value, "an IPv4 address, like 10.77.0.1"))?);
            }
            "TAPSTACK_MAC" => {
                let mac = MacAddr::from_str(value).ok().filter(|m| m.is_unicast());
                self.mac = Some(mac.ok_or_else(|| {
                    error(
                        var,
                        value,
                        "a unicast Ethernet address, like 02:74:73:4d:00:02",
                    )
                })?);
            }
            "TAPSTACK_PCAP" => {
                if value.is_empty() {
                    return Err(error(var, value, "a file path"));
                }
                self.pcap = Some(PathBuf::from(value));
            }
            "TAPSTACK_LOG" => {
                if !valid_log_filter(value) {
                    return Err(error(var, value, LOG_SYNTAX));
                }
                self.log = Some(value.to_string());
            }
            "TAPSTACK_DNS" => {
                let servers: Option<Vec<Ipv4Addr>> = value
                    .split(',')
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        Ipv4Addr::from_str(s)
                            .ok()
                            .filter(|ip| !ip.is_unspecified() && !ip.is_broadcast())
                    })
                    .collect();
                self.dns = Some(servers.ok_or_else(|| {
                    error(
                        var,
                        value,
                        "comma-separated IPv4 addresses of DNS servers, like 10.77.0.1,10.77.0.3",
                    )
                })?);
            }
            "TAPSTACK_DNS_SEARCH" => {
                let domains: Option<Vec<String>> = value
                    .split(',')
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(search_domain)
                    .collect();
                self.dns_search = Some(domains.ok_or_else(|| {
                    error(
                        var,
                        value,
                        "comma-separated domain names (dot-separated labels of 1 to 63 bytes, 253 \
                         bytes in all), like corp.example,example.org",
                    )
                })?);
            }
            "TAPSTACK_DNS_OPTIONS" => {
                self.dns_options = Some(DnsOptions::parse(value).ok_or_else(|| {
                    error(
                        var,
                        value,
                        "resolver options like ndots:2 timeout:1 attempts:3 (ndots 0 to 15, \
                         timeout 1 to 30 seconds, attempts 1 to 5), each at most once",
                    )
                })?);
            }
            "TAPSTACK_OFFLOAD" => {
                self.offload = Some(match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(error(var, value, "on or off")),
                });
            }
            "TAPSTACK_MAX_SOCKETS" => {
                let n = value.trim().parse::<usize>().ok();
                self.max_sockets = Some(
                    n.filter(|n| (1..=1 << 24).contains(n))
                        .ok_or_else(|| error(var, value, "a number of sockets, 1 to 16777216"))?,
                );
            }
            _ => return Err(error(var, value, "a known TAPSTACK_ variable")),
        }
        Ok(())
    }

    /// Fills in the defaults and checks the settings against each other.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let (addr, prefix_len) = self.addr.unwrap_or((Ipv4Addr::new(10, 77, 0, 2), 24));
        let mask = prefix_mask(prefix_len);
        let network = u32::from(addr) & mask;
        let gateway = match self.gateway {
            Some(gw) => {
                if u32::from(gw) & mask != network || gw == addr {
                    return Err(error(
                        "TAPSTACK_GATEWAY",
                        &gw.to_string(),
                        &format!(
                            "another address inside our prefix {}/{prefix_len}",
                            Ipv4Addr::from(network)
                        ),
                    ));
                }
                Some(gw)
            }
            None if prefix_len >= 31 => None,
            None => {
                let first = Ipv4Addr::from(network + 1);
                // If we are the first host ourselves, the gateway is the next one.
                Some(if first == addr {
                    Ipv4Addr::from(network + 2)
                } else {
                    first
                })
            }
        };
        let [_, b, c, d] = addr.octets();
        Ok(Config {
            iface: self.iface.unwrap_or_else(|| "tap0".to_string()),
            addr,
            prefix_len,
            gateway,
            mac: self.mac.unwrap_or(MacAddr([0x02, 0x74, 0x73, b, c, d])),
            pcap: self.pcap,
            log: self.log,
            dns: self.dns.unwrap_or_default(),
            dns_search: self.dns_search.unwrap_or_default(),
            dns_options: self.dns_options.unwrap_or_default(),
            offload: self.offload.unwrap_or(true),
            max_sockets: self.max_sockets.unwrap_or(DEFAULT_MAX_SOCKETS),
        })
    }
}

impl Config {
    /// The configuration from the environment, with defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Settings::from_env()?.resolve()
    }

    /// The network mask of our prefix, as a host-order integer.
    pub fn netmask(&self) -> u32 {
        prefix_mask(self.prefix_len)
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "interface  {}", self.iface)?;
        writeln!(f, "address    {}/{}", self.addr, self.prefix_len)?;
        match self.gateway {
            Some(gw) => writeln!(f, "gateway    {gw}")?,
            None => writeln!(f, "gateway    none")?,
        }
        writeln!(f, "mac        {}", self.mac)?;
        match &self.pcap {
            Some(p) => writeln!(f, "pcap       {}", p.display())?,
            None => writeln!(f, "pcap       off")?,
        }
        writeln!(f, "offload    {}", if self.offload { "on" } else { "off" })?;
        writeln!(f, "sockets    {} at most", self.max_sockets)?;
        if self.dns.is_empty() {
            write!(f, "dns        none")?;
        } else {
            let list: Vec<String> = self.dns.iter().map(Ipv4Addr::to_string).collect();
            write!(f, "dns        {}", list.join(","))?;
        }
        if !self.dns_search.is_empty() {
            write!(f, "\nsearch     {}", self.dns_search.join(","))?;
        }
        if self.dns_options != DnsOptions::default() {
            write!(f, "\noptions    {}", self.dns_options)?;
        }
        Ok(())
    }
}

pub fn prefix_mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len.min(32)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Settings::from_lookup(|v| {
            vars.iter()
                .find(|(k, _)| *k == v)
                .map(|(_, x)| x.to_string())
        })?
        .resolve()
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.iface, "tap0");
        assert_eq!((c.addr, c.prefix_len), (Ipv4Addr::new(10, 77, 0, 2), 24));
        assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(c.mac.to_string(), "02:74:73:4d:00:02");
        assert!(c.mac.is_locally_administered());
        assert!(c.dns.is_empty());
        assert_eq!(c.max_sockets, DEFAULT_MAX_SOCKETS);
    }

    #[test]
    fn the_bound_on_sockets() {
        let c = config(&[("TAPSTACK_MAX_SOCKETS", "100")]).unwrap();
        assert_eq!(c.max_sockets, 100);
        assert!(c.to_string().contains("sockets    100 at most"));
        for bad in ["0", "-1", "lots", "16777217"] {
            let e = config(&[("TAPSTACK_MAX_SOCKETS", bad)]).unwrap_err();
            assert_eq!(e.var, "TAPSTACK_MAX_SOCKETS");
            assert!(e.to_string().contains("1 to 16777216"), "{e}");
        }
    }

    #[test]
    fn dns_search_domains() {
        let c = config(&[("TAPSTACK_DNS_SEARCH", "corp.example., example.org,")]).unwrap();
        assert_eq!(c.dns_search, ["corp.example", "example.org"]);
        assert!(c
            .to_string()
            .ends_with("search     corp.example,example.org"));
        assert!(config(&[]).unwrap().dns_search.is_empty());
        for bad in ["a..b", ".", &"x".repeat(64), "bad name"] {
            let e = config(&[("TAPSTACK_DNS_SEARCH", bad)]).unwrap_err();
            assert_eq!(e.var, "TAPSTACK_DNS_SEARCH", "{bad}");
        }
    }

    #[test]
    fn dns_options_as_resolv_conf_names_them() {
        assert_eq!(config(&[]).unwrap().dns_options, DnsOptions::default());
        let c = config(&[("TAPSTACK_DNS_OPTIONS", "ndots:5, timeout:1 attempts:3")]).unwrap();
        let want = DnsOptions {
            ndots: 5,
            timeout_secs: 1,
            attempts: 3,
        };
        assert_eq!(c.dns_options, want);
        assert!(c
            .to_string()
            .ends_with("options    ndots:5 timeout:1 attempts:3"));
        let c = config(&[("TAPSTACK_DNS_OPTIONS", "ndots:0")]).unwrap();
        assert_eq!(c.dns_options.ndots, 0);
        assert_eq!(
            c.dns_options.attempts, 2,
            "what is not given keeps its default"
        );
        for bad in [
            "ndots:16",
            "timeout:0",
            "attempts:6",
            "ndots",
            "ndots:-1",
            "rotate",
            "edns0",
            "ndots:1 ndots:2",
        ] {
            let e = config(&[("TAPSTACK_DNS_OPTIONS", bad)]).unwrap_err();
            assert_eq!(e.var, "TAPSTACK_DNS_OPTIONS", "{bad}");
            assert!(e.to_string().contains("ndots 0 to 15"), "{e}");
        }
    }

    #[test]
    fn dns_servers() {
        let c = config(&[("TAPSTACK_DNS", "10.77.0.1, 10.77.0.3,")]).unwrap();
        assert_eq!(
            c.dns,
            vec![Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 3)]
        );
        assert!(c.to_string().ends_with("dns        10.77.0.1,10.77.0.3"));
        // Empty: no servers, as if unset.
        assert!(config(&[("TAPSTACK_DNS", "")]).unwrap().dns.is_empty());
        for bad in [
            "10.77.0",
            "10.77.0.1;10.77.0.2",
            "0.0.0.0",
            "255.255.255.255",
            "ns1",
        ] {
            let e = config(&[("TAPSTACK_DNS", bad)]).unwrap_err();
            assert_eq!(e.var, "TAPSTACK_DNS");
            assert!(e.to_string().contains("DNS servers"), "{e}");
        }
    }

    #[test]
    fn explicit_values() {
        let c = config(&[
            ("TAPSTACK_ADDR", "192.168.5.1/16"),
            ("TAPSTACK_MAC", "02-00-00-00-00-09"),
            ("TAPSTACK_IFACE", "tap7"),
        ])
        .unwrap();
        assert_eq!(c.gateway, Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(c.mac, MacAddr([2, 0, 0, 0, 0, 9]));
        let c = config(&[("TAPSTACK_ADDR", "10.0.0.1/24")]).unwrap();
        assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("TAPSTACK_ADDR", "10.77.0/24"),
            ("TAPSTACK_ADDR", "10.77.0.2/33"),
            ("TAPSTACK_ADDR", "224.0.0.1/24"),
            ("TAPSTACK_GATEWAY", "gw"),
            ("TAPSTACK_MAC", "01:00:5e:00:00:01"),
            ("TAPSTACK_MAC", "zz"),
            ("TAPSTACK_IFACE", "a-very-long-interface-name"),
        ] {
            let e = config(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().starts_with(&format!("{var}=")), "{e}");
        }
        let e = config(&[("TAPSTACK_GATEWAY", "10.1.0.1")]).unwrap_err();
        assert!(
            e.to_string().contains("inside our prefix 10.77.0.0/24"),
            "{e}"
        );
    }

    #[test]
    fn a_value_not_in_utf8_is_an_error_not_unset() {
        use std::os::unix::ffi::OsStringExt;
        let e = Settings::from_os_lookup(|v| {
            (v == "TAPSTACK_PCAP").then(|| OsString::from_vec(b"/tmp/\xff.pcap".to_vec()))
        })
        .err()
        .expect("refused");
        assert_eq!(e.var, "TAPSTACK_PCAP");
        assert_eq!(
            e.to_string(),
            "TAPSTACK_PCAP=\"/tmp/\u{fffd}.pcap\": expected a value in UTF-8"
        );
    }

    #[test]
    fn log_filters_are_checked_up_front() {
        for good in [
            "",
            "warn",
            "INFO",
            "off",
            "tapstack",
            "tapstack=debug",
            "warn, tapstack::tcp=trace,",
            "tapstack::arp=",
            "info/retransmit",
            "debug/a=b,c",
        ] {
            let c = config(&[("TAPSTACK_LOG", good)]).unwrap();
            assert_eq!(c.log.as_deref(), Some(good));
        }
        for bad in [
            "tapstack=verbose",
            "tapstack=debug=2",
            "info/a/b",
            "tapstack=3",
        ] {
            let e = config(&[("TAPSTACK_LOG", bad)]).unwrap_err();
            assert_eq!(e.var, "TAPSTACK_LOG");
            assert!(e.to_string().contains("TARGET=LEVEL"), "{e}");
        }
    }

    #[test]
    fn gateway_outside_the_prefix() {
        let e = config(&[("TAPSTACK_GATEWAY", "10.1.0.1")]).unwrap_err();
        assert!(
            e.to_string().contains("inside our prefix 10.77.0.0/24"),
            "{e}"
        );
    }
}
