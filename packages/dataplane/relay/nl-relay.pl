#!/usr/bin/perl
# The dataplane's relay to the kernel: rtnetlink requests in, the kernel's
# answers out. Node cannot open a netlink socket; this process does that and
# little else. All encoding and decoding is the caller's
# (packages/dataplane/src/netlink.ts, linkmsg.ts, linkrelay.ts).
#
# stdin: frames, each a u32 head (host order) and the bytes it announces.
#
# Plain frame (head's top bit clear; route sync): the head is the length of
# that many bytes of netlink requests, sent to the kernel as one datagram from
# the relay's own namespace; the last request asks for an ack, or is a dump
# request (NLM_F_DUMP; one a frame: the kernel runs one dump at a time per
# socket), whose answer is many messages over many datagrams, ending with
# NLMSG_DONE. The socket has NETLINK_GET_STRICT_CHK set, so the kernel
# filters a route dump by the rtm_protocol the request names.
#
# Op frame (head's top bit set; pod wiring): the low 31 bits are the length
# of a list of records, each 4-aligned: u32 length (header included), u16
# kind, u16 zero, u32 seq, then the record's data. Records run in order:
#   NETNS   (1) data = a path; later records act in that network namespace
#               (opened and setns'd; a netlink socket is made there for the
#               first NETLINK record). An empty path returns to the relay's
#               own namespace. Entering fails with EINVAL for a path that is
#               a namespace of another kind, so callers check paths this way.
#   NSFD    (2) data = u32 offset, then a path: the path is opened and its fd,
#               valid in this process, is written as a u32 at that offset of
#               the next NETLINK record (for IFLA_NET_NS_FD).
#   NETLINK (3) data = netlink requests, sent as one datagram from the current
#               namespace; the answers are passed on as the kernel sent them.
#   SYSCTL  (4) data = a key under /proc/sys (net/...), NUL, a value: written
#               in the current namespace (per-namespace keys follow the
#               opener's namespace).
# The first record that fails ends the frame: a NETLINK record whose answers
# hold an error, or any other record that fails, which is answered with an
# NLMSG_ERROR carrying the record's seq and the errno. The relay returns to its
# own namespace at the end of every op frame.
#
# stdout: per frame, in order, a u32 length and the answers (for a plain
# frame, up to and including the answer to its last request: its ack, its
# error, or its dump's NLMSG_DONE).
#
# Listen mode (`nl-relay.pl listen`, route sync's second relay): stdin
# carries nothing; the kernel's link and route announcements come out as
# frames (see listen_mode below).
# An error on a socket or a pipe, or a namespace it cannot return from, ends
# the process; the caller treats the frames it had not heard back about as
# lost.
use strict;
use warnings;
use Config;
use Socket qw(SOCK_RAW SOL_SOCKET SO_RCVBUF MSG_DONTWAIT);

use constant {
  AF_NETLINK      => 16,
  NETLINK_ROUTE   => 0,
  SOL_NETLINK     => 270,
  NETLINK_CAP_ACK => 10,
  NETLINK_EXT_ACK => 11,
  SO_RCVBUFFORCE  => 33,
  NLMSG_ERROR     => 2,
  NLMSG_DONE      => 3,
  NETLINK_GET_STRICT_CHK => 12,
  ENOBUFS         => 105,
  # RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
  LISTEN_GROUPS   => 0x1 | 0x40 | 0x400,
  NLM_F_CAPPED    => 0x100,
  CLONE_NEWNET    => 0x40000000,
  OP_FRAME        => 0x80000000,
  REC_NETNS       => 1,
  REC_NSFD        => 2,
  REC_NETLINK     => 3,
  REC_SYSCTL      => 4,
};

sub nl_socket {
  my ($groups, $port) = @_;
  socket(my $s, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) or return undef;
  # A port named (the relay's pid, for its main socket) is the one its
  # requests' announcements carry; taken already, the kernel picks one.
  unless ($port && bind($s, pack('S x2 L L', AF_NETLINK, $port, $groups // 0))) {
    bind($s, pack('S x2 L L', AF_NETLINK, 0, $groups // 0)) or return undef;
  }
  # Room for the answers to a whole frame; the forced size needs CAP_NET_ADMIN.
  setsockopt($s, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20) or setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4 << 20);
  # Failures come back with the request's header only, plus the kernel's reason.
  setsockopt($s, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  setsockopt($s, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  # Dump requests are checked strictly, and filtered by what they ask for
  # (route sync asks for its protocol's routes only).
  setsockopt($s, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
  return $s;
}

binmode STDIN;
binmode STDOUT;
listen_mode() if @ARGV && $ARGV[0] eq 'listen';
my $nl = nl_socket(0, $$) or die "netlink socket: $!\n";

# setns(2) by number: perl has no wrapper. Looked up when first needed, so a
# relay on an architecture not listed here still serves plain frames.
my %SYS_SETNS = (x86_64 => 308, aarch64 => 268, riscv64 => 268, i386 => 346, i686 => 346, arm => 375);
my $sys_setns;
sub setns_number {
  return $sys_setns if defined $sys_setns;
  my ($arch) = $Config{archname} =~ /^([^-]+)/;
  $arch = 'arm' if defined $arch && $arch =~ /^arm/;
  $sys_setns = $SYS_SETNS{$arch // ''};
  $sys_setns //= eval { require 'syscall.ph'; &SYS_setns() };
  die "setns: no system call number known for $Config{archname}\n" unless defined $sys_setns;
  return $sys_setns;
}
sub setns {
  my ($fh) = @_;
  return syscall(setns_number(), fileno($fh), CLONE_NEWNET) == 0;
}

# The relay's own namespace, to come back to.
open(my $home, '<', '/proc/self/ns/net') or die "/proc/self/ns/net: $!\n";

sub read_exactly {
  my ($n) = @_;
  my $buf = '';
  while (length($buf) < $n) {
    my $got = sysread(STDIN, $buf, $n - length($buf), length($buf));
    die "stdin: $!\n" unless defined $got;
    return undef if $got == 0;
  }
  return $buf;
}

sub write_all {
  my ($data) = @_;
  my $off = 0;
  while ($off < length $data) {
    my $put = syswrite(STDOUT, $data, length($data) - $off, $off);
    die "stdout: $!\n" unless defined $put;
    $off += $put;
  }
}

# Sends one datagram of requests; returns the kernel's answers up to the
# answer to the last request, and whether any answer was an error.
sub talk {
  my ($sock, $data) = @_;
  my $len = length $data;
  my ($at, $last) = (0, undef);
  while ($at + 16 <= $len) {
    my ($msglen, $seq) = unpack('L x4 L', substr($data, $at, 12));
    die "stdin: bad request length $msglen\n" if $msglen < 16;
    $last = $seq;
    $at += ($msglen + 3) & ~3;
  }
  die "stdin: empty frame\n" unless defined $last;
  defined(send($sock, $data, 0)) or die "netlink send: $!\n";
  my ($answers, $done, $failed) = ('', 0, 0);
  until ($done) {
    defined(recv($sock, my $dgram, 1 << 20, 0)) or die "netlink recv: $!\n";
    $answers .= $dgram;
    my $p = 0;
    while ($p + 16 <= length $dgram) {
      my ($msglen, $type, $seq) = unpack('L S x2 L', substr($dgram, $p, 12));
      if (($type == NLMSG_ERROR || $type == NLMSG_DONE) && $p + 20 <= length $dgram) {
        $failed = 1 if unpack('l', substr($dgram, $p + 16, 4)) != 0;
        $done = 1 if $seq == $last;
      }
      last if $msglen < 16;
      $p += ($msglen + 3) & ~3;
    }
  }
  return ($answers, $failed);
}

# An answer as the kernel would give it for a refused request: NLMSG_ERROR,
# the errno negated, the (capped) header of a request with this seq.
sub refusal {
  my ($seq, $errno) = @_;
  $errno ||= 5; # EIO, should $! be unset
  return pack('L S S L L l L S S L L', 36, NLMSG_ERROR, NLM_F_CAPPED, $seq, 0, -$errno, 16, 0, 0, $seq, 0);
}

sub op_frame {
  my ($frame) = @_;
  my ($out, $at, $sock, $away) = ('', 0, $nl, 0);
  my @fds; # [offset, fh] for the next NETLINK record
  my $len = length $frame;
  while ($at + 12 <= $len) {
    my ($rlen, $kind, $seq) = unpack('L S x2 L', substr($frame, $at, 12));
    die "stdin: bad record length $rlen\n" if $rlen < 12 || $at + $rlen > $len;
    my $data = substr($frame, $at + 12, $rlen - 12);
    $at += ($rlen + 3) & ~3;
    my $ok = 1;
    if ($kind == REC_NETNS) {
      if ($away) {
        setns($home) or die "setns back home: $!\n";
        ($sock, $away) = ($nl, 0);
      }
      if ($data ne '') {
        # setns fails (EINVAL) for a namespace of another kind: entering is
        # also how a caller checks a path, so the socket waits for a request.
        my $ns;
        if (open($ns, '<', $data) && setns($ns)) {
          ($sock, $away) = (undef, 1);
        } else {
          $ok = 0;
        }
      }
    } elsif ($kind == REC_NSFD) {
      my $off = unpack('L', $data);
      if (open(my $fh, '<', substr($data, 4))) {
        push @fds, [$off, $fh];
      } else {
        $ok = 0;
      }
    } elsif ($kind == REC_NETLINK) {
      for my $f (@fds) {
        die "stdin: fd offset $f->[0] outside its record\n" if $f->[0] + 4 > length $data;
        substr($data, $f->[0], 4) = pack('L', fileno($f->[1]));
      }
      unless (defined $sock) {
        unless ($sock = nl_socket()) {
          $out .= refusal($seq, $! + 0);
          last;
        }
      }
      my ($answers, $failed) = talk($sock, $data);
      @fds = ();
      $out .= $answers;
      last if $failed;
      next;
    } elsif ($kind == REC_SYSCTL) {
      my ($key, $value) = split /\0/, $data, 2;
      die "stdin: bad sysctl key\n" unless defined $value && $key =~ m{^net/[A-Za-z0-9_./-]+$} && $key !~ /\.\./;
      my $fh;
      $ok = 0 unless open($fh, '>', "/proc/sys/$key") && syswrite($fh, $value) && close($fh);
    } else {
      die "stdin: unknown record kind $kind\n";
    }
    unless ($ok) {
      $out .= refusal($seq, $! + 0);
      last;
    }
  }
  if ($away) {
    setns($home) or die "setns back home: $!\n";
  }
  return $out;
}

# Listen mode (`nl-relay.pl listen`): a socket joined to the link, IPv4
# route and IPv6 route notification groups, in the relay's own namespace.
# Whatever the kernel announces is passed on as frames: a u32 length (host
# order) and whole netlink messages. A frame of length 0 means "announcements
# may have been missed": sent once subscribed (changes before it are not
# announced) and whenever the socket overran (ENOBUFS); the caller then
# reads the kernel in full.
#
# stdin: frames, each a u32 length and that many bytes of u32 netlink port
# ids (host order): from then on, announcements of changes requested from
# those ports are dropped. The kernel stamps an announcement with the port
# of the socket whose request caused it (0 for its own changes); route
# sync's writing relays' sockets are bound to their pids, so their echoes
# never reach the caller. Ends when stdin ends.
#
# Arguments after `listen` are route protocol numbers whose route
# announcements are dropped here (another daemon's routes, e.g. BIRD's 12,
# which route sync never touches: a full table of them would otherwise be
# passed on and decoded for nothing).
sub listen_mode {
  my $s = nl_socket(LISTEN_GROUPS) or die "netlink socket: $!\n";
  setsockopt($s, SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20) or setsockopt($s, SOL_SOCKET, SO_RCVBUF, 32 << 20);
  write_all(pack('L', 0));
  my ($rin, $out, $in) = ('', '', '');
  my %ignore;
  my %foreign = map { $_ => 1 } grep { /^\d+$/ } @ARGV[1 .. $#ARGV];
  vec($rin, fileno(STDIN), 1) = 1;
  vec($rin, fileno($s), 1) = 1;
  for (;;) {
    my $n = select(my $rout = $rin, undef, undef, undef);
    next if $n < 0 && $!{EINTR};
    die "select: $!\n" if $n < 0;
    if (vec($rout, fileno(STDIN), 1)) {
      my $got = sysread(STDIN, $in, 4096, length $in);
      exit 0 if defined $got && $got == 0;
      die "stdin: $!\n" unless defined $got;
      while (length $in >= 4) {
        my $len = unpack('L', $in);
        last if length $in < 4 + $len;
        %ignore = map { $_ => 1 } unpack('L*', substr($in, 4, $len));
        substr($in, 0, 4 + $len) = '';
      }
    }
    next unless vec($rout, fileno($s), 1);
    # Everything waiting, in one frame (up to about 1 MiB).
    while (length $out < (1 << 20)) {
      my $r = recv($s, my $dgram, 1 << 20, MSG_DONTWAIT);
      if (!defined $r) {
        last if $!{EAGAIN} || $!{EWOULDBLOCK};
        if ($! + 0 == ENOBUFS) {
          write_all(pack('L', length $out) . $out) if length $out;
          write_all(pack('L', 0));
          $out = '';
          next;
        }
        die "netlink recv: $!\n";
      }
      if (%ignore || %foreign) {
        my $p = 0;
        while ($p + 16 <= length $dgram) {
          my ($msglen, $type, $port) = unpack('L S x6 L', substr($dgram, $p, 16));
          last if $msglen < 16;
          my $step = ($msglen + 3) & ~3;
          # RTM_NEWROUTE (24) and RTM_DELROUTE (25): rtm_protocol is byte 5 of the rtmsg.
          my $theirs = ($type == 24 || $type == 25) && $msglen >= 28 && $foreign{ord substr($dgram, $p + 21, 1)};
          $out .= substr($dgram, $p, $step) unless $ignore{$port} || $theirs;
          $p += $step;
        }
      } else {
        $out .= $dgram;
      }
    }
    write_all(pack('L', length $out) . $out) if length $out;
    $out = '';
  }
}

while (defined(my $head = read_exactly(4))) {
  my $word = unpack('L', $head);
  my $len = $word & (OP_FRAME - 1);
  my $frame = read_exactly($len);
  die "stdin: frame cut short\n" unless defined $frame;
  my $answers = ($word & OP_FRAME) ? op_frame($frame) : (talk($nl, $frame))[0];
  write_all(pack('L', length $answers) . $answers);
}
