// Package installed reads which packages are installed in a root filesystem (rpmdb or dpkg
// status) and reads/writes refit-manifest/v1 package manifests.
//
// Reading a root never changes it: not a byte, not a timestamp, not a sqlite -shm or -wal
// file, not a lock file. The rpmdb may be sqlite (RHEL 9, Fedora 33+), Berkeley DB (EL5 to
// EL8) or ndb (SUSE). A sqlite database is copied with its write-ahead log into a private
// temporary directory and read there, because the sqlite driver opens databases read-write;
// Berkeley DB and ndb files are opened read-only and verified before go-rpmdb parses them,
// because go-rpmdb trusts their structure (see checkBerkeleyDBPages and checkNDBBlobs).
// Paths inside the root are resolved with osrelease.ResolveInRoot, so a symlink in an image
// never leads to the host's own files.
package installed
