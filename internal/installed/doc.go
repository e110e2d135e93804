// Package installed reads which packages are installed in a root filesystem (rpmdb or dpkg
// status) and reads/writes refit-manifest/v1 package manifests.
//
// Reading a root never changes it: not a byte, not a timestamp, not a sqlite -shm or -wal
// file, not a lock file. Paths inside the root are resolved with imageroot.Resolve, so
// a symlink in an image never leads to the host's own files. The rpmdb is looked for where
// the image's own rpm looks: the %_dbpath its macros files set, else /var/lib/rpm and
// /usr/lib/sysimage/rpm.
//
// The rpmdb may be sqlite (RHEL 9, Fedora 33+), Berkeley DB (EL5 to EL8) or ndb (SUSE).
// Every backend ends in one private sqlite database that go-rpmdb parses: rpmdb.sqlite is
// copied with its write-ahead log into a temporary directory (the sqlite driver opens
// databases read-write, and the copy still sees transactions only in the WAL), and the
// package headers of a Berkeley DB or ndb file are read out by this package
// (readBerkeleyDB, readNDB) and written there in rpm's sqlite schema.
//
// Why the Berkeley DB and ndb files are not read with go-rpmdb (v0.1.1; issue 9 reports the
// newest release does the same): its Berkeley DB reader keeps only values stored on overflow pages
// (H_OFFPAGE) and skips every other hash item. Berkeley DB stores a value that fits on the
// hash page itself there (H_KEYDATA); with the 4 KiB pages of EL5 to EL8 hardly any rpm
// header fits, but AlmaLinux 9.0's aarch64 image has 16 KiB pages and two of its 22 headers
// (almalinux-gpg-keys, basesystem) are inline, so go-rpmdb silently listed 20. It also trusts
// the file's structure (damaged pages are skipped, a looping chain hangs it), its ndb reader
// checks no checksums, and its sqlite reader ends silently when sqlite fails mid-table.
// go-rpmdb exports no parser for a header blob, only readers of whole databases, so the
// blobs reach its parser through sqlite; the upstream fix is to read H_KEYDATA values in
// pkg/bdb.
//
// No reader returns a shorter list than the database holds: the Berkeley DB hash pages must
// hold as many key/data pairs as the metadata counts (HMETA.nelem: the packages and rpm's
// key-0 record of the next instance number), every used ndb slot must yield a verified blob,
// go-rpmdb must decode every row of the Packages table (SELECT count(*)), and every dpkg
// status stanza must parse (a stanza that does not is an error, never skipped). Anything else
// is an error wrapping ErrCorruptRPMDB (for dpkg, ErrDpkgStatusSyntax) that names the
// database and the counts.
package installed
