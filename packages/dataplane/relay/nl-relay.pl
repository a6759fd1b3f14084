#!/usr/bin/perl
# Route sync's relay to the kernel: rtnetlink requests in, the kernel's
# answers out. Node cannot open a netlink socket; this process, started in the
# routes' network namespace, does that and nothing else. All encoding and
# decoding is the caller's (packages/dataplane/src/netlink.ts).
#
# stdin:  frames, each a u32 length (host order) and that many bytes of
#         netlink requests; the last request of a frame asks for an ack.
# stdout: per frame, in order, a u32 length and the answers the kernel sent
#         for it, up to and including the one to the frame's last request.
# Any error on the socket ends the process; the caller treats the frames it
# had not heard back about as lost.
use strict;
use warnings;
use Socket qw(SOCK_RAW SOL_SOCKET SO_RCVBUF);

use constant {
  AF_NETLINK      => 16,
  NETLINK_ROUTE   => 0,
  SOL_NETLINK     => 270,
  NETLINK_CAP_ACK => 10,
  NETLINK_EXT_ACK => 11,
  SO_RCVBUFFORCE  => 33,
  NLMSG_ERROR     => 2,
};

socket(my $nl, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) or die "netlink socket: $!\n";
bind($nl, pack('S x2 L L', AF_NETLINK, 0, 0)) or die "netlink bind: $!\n";
# Room for the answers to a whole frame; the forced size needs CAP_NET_ADMIN.
setsockopt($nl, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20) or setsockopt($nl, SOL_SOCKET, SO_RCVBUF, 4 << 20);
# Failures come back with the request's header only, plus the kernel's reason.
setsockopt($nl, SOL_NETLINK, NETLINK_CAP_ACK, 1);
setsockopt($nl, SOL_NETLINK, NETLINK_EXT_ACK, 1);
binmode STDIN;
binmode STDOUT;

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

while (defined(my $head = read_exactly(4))) {
  my $len = unpack('L', $head);
  my $frame = read_exactly($len);
  die "stdin: frame cut short\n" unless defined $frame;
  # The sequence number of the frame's last request: its answer ends the frame.
  my ($at, $last) = (0, undef);
  while ($at + 16 <= $len) {
    my ($msglen, $seq) = unpack('L x4 L', substr($frame, $at, 12));
    die "stdin: bad request length $msglen\n" if $msglen < 16;
    $last = $seq;
    $at += ($msglen + 3) & ~3;
  }
  die "stdin: empty frame\n" unless defined $last;
  defined(send($nl, $frame, 0)) or die "netlink send: $!\n";
  my $answers = '';
  my $done = 0;
  until ($done) {
    defined(recv($nl, my $dgram, 1 << 20, 0)) or die "netlink recv: $!\n";
    $answers .= $dgram;
    my $p = 0;
    while ($p + 16 <= length $dgram) {
      my ($msglen, $type, $seq) = unpack('L S x2 L', substr($dgram, $p, 12));
      $done = 1 if $type == NLMSG_ERROR && $seq == $last;
      last if $msglen < 16;
      $p += ($msglen + 3) & ~3;
    }
  }
  write_all(pack('L', length $answers) . $answers);
}
