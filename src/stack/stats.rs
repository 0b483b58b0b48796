//! Counters of what the stack saw and did, for tests, logs and `tapstack up`'s exit report.

use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames or packets whose headers were truncated or inconsistent, at any layer.
    pub malformed: u64,
    /// IP headers, ICMP messages, UDP datagrams or TCP segments with a wrong checksum.
    pub bad_checksum: u64,
    /// Frames or packets addressed to someone else.
    pub not_for_us: u64,
    /// Ethertypes, ARP hardware types or IP protocols this stack does not speak.
    pub unsupported: u64,
    pub arp_in: u64,
    pub arp_requests_out: u64,
    pub arp_replies_out: u64,
    pub arp_failures: u64,
    /// Frames dropped, oldest first, from a full queue waiting on an unresolved neighbour
    /// (Linux's `unres_discards`).
    pub arp_queue_overflows: u64,
    pub ip_in: u64,
    pub ip_fragments_in: u64,
    pub ip_reassembled: u64,
    pub ip_reassembly_timeouts: u64,
    /// Datagrams dropped because a fragment overlapped bytes already received (Linux's
    /// `ReasmOverlaps`).
    pub ip_reassembly_overlaps: u64,
    /// Incomplete datagrams dropped to make room for a new one.
    pub ip_reassembly_evicted: u64,
    pub ip_fragments_out: u64,
    pub icmp_in: u64,
    pub icmp_echo_replies: u64,
    pub icmp_errors_in: u64,
    pub icmp_errors_out: u64,
    /// ICMP messages held back by the host-wide limit (Linux's `RateLimitGlobal`), and by
    /// their destination's (`RateLimitHost`).
    pub icmp_rate_limited: u64,
    pub icmp_rate_limited_destination: u64,
    pub igmp_in: u64,
    pub igmp_out: u64,
    pub udp_in: u64,
    pub udp_out: u64,
    pub udp_no_port: u64,
    pub udp_queue_full: u64,
    pub tcp_in: u64,
    pub tcp_out: u64,
    /// RSTs sent for segments that matched no connection.
    pub tcp_resets_out: u64,
    /// SYNs dropped because a listener's queues were full.
    pub tcp_syns_dropped: u64,
    /// Handshakes held back (their last ACK dropped) because the accept queue was full.
    pub tcp_listen_overflows: u64,
    /// SYNs answered with a cookie, and cookies returned valid and not (Linux's SyncookiesSent,
    /// SyncookiesRecv, SyncookiesFailed).
    pub tcp_syncookies_sent: u64,
    pub tcp_syncookies_recv: u64,
    pub tcp_syncookies_failed: u64,
    /// New sockets refused (ENOBUFS), and SYNs or returning cookies turned away, at the bound on
    /// the socket table.
    pub sockets_refused: u64,
    /// New sockets refused (ENOMEM) under memory pressure ([`crate::memory`]).
    pub sockets_refused_memory: u64,
    /// Connections in TIME-WAIT ended early to make room at that bound (as Linux ends them past
    /// `tcp_max_tw_buckets`, its TCPTimeWaitOverflow).
    pub tcp_time_wait_recycled: u64,
    /// Passive opens whose SYN's Fast Open cookie was good (Linux's TCPFastOpenPassive).
    pub tcp_fastopen_passive: u64,
    /// Active opens with a cookie, their SYN held to carry the first write (near Linux's
    /// TCPFastOpenActive, which counts those whose data the SYN-ACK acknowledged).
    pub tcp_fastopen_active: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames in {} out {}; dropped: malformed {}, bad checksum {}, not for us {}, unsupported {}; \
             arp in {} requests out {} replies out {} failures {} queue overflows {}; \
             ip in {} fragments in {} reassembled {} timeouts {} overlaps {} evicted {}; \
             icmp in {} echo replies {} errors in {} out {}; udp in {} out {} no port {}; \
             tcp in {} out {} resets {} syns dropped {} listen overflows {}; \
             syncookies sent {} recv {} failed {}; \
             sockets refused {} for memory {} time-wait recycled {}; fastopen passive {} active {}",
            self.frames_in,
            self.frames_out,
            self.malformed,
            self.bad_checksum,
            self.not_for_us,
            self.unsupported,
            self.arp_in,
            self.arp_requests_out,
            self.arp_replies_out,
            self.arp_failures,
            self.arp_queue_overflows,
            self.ip_in,
            self.ip_fragments_in,
            self.ip_reassembled,
            self.ip_reassembly_timeouts,
            self.ip_reassembly_overlaps,
            self.ip_reassembly_evicted,
            self.icmp_in,
            self.icmp_echo_replies,
            self.icmp_errors_in,
            self.icmp_errors_out,
            self.udp_in,
            self.udp_out,
            self.udp_no_port,
            self.tcp_in,
            self.tcp_out,
            self.tcp_resets_out,
            self.tcp_syns_dropped,
            self.tcp_listen_overflows,
            self.tcp_syncookies_sent,
            self.tcp_syncookies_recv,
            self.tcp_syncookies_failed,
            self.sockets_refused,
            self.sockets_refused_memory,
            self.tcp_time_wait_recycled,
            self.tcp_fastopen_passive,
            self.tcp_fastopen_active
        )
    }
}
