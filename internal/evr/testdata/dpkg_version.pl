# Oracle for evr's tests, run with the real Dpkg::Version (libdpkg-perl): perl dpkg_version.pl.
# Reads lines "<mode> <hex a> <hex b>" from stdin and writes one line per pair:
#   v  full versions: "<valid a><valid b> <cmp>", valid being version_check's 1 or 0 and cmp
#      version_compare(a, b), or "x" when a version is invalid (version_compare would die);
#   p  version parts: version_compare_part(a, b).
# A line "." flushes the answers so far.
use strict;
use warnings;

use Dpkg::Version;

while (my $line = <STDIN>) {
    chomp $line;
    if ($line eq '.') {
        STDOUT->flush();
        next;
    }
    my ($mode, $ha, $hb) = split / /, $line, -1;
    my ($a, $b) = (pack('H*', $ha), pack('H*', $hb));
    if ($mode eq 'v') {
        my $va = version_check($a) ? 1 : 0;
        my $vb = version_check($b) ? 1 : 0;
        my $cmp = ($va && $vb) ? version_compare($a, $b) : 'x';
        print "$va$vb $cmp\n";
    } elsif ($mode eq 'p') {
        print version_compare_part($a, $b), "\n";
    } else {
        die "unknown mode '$mode'\n";
    }
}
