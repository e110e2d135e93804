// Package lvm reads LVM2 volume groups straight from the bytes of their physical
// volumes, without device-mapper and without the host's LVM tools or state. It
// owns the on-disk format: the "LABELONE" label in one of a PV's first four
// sectors, the PV header and its metadata areas (a circular buffer whose committed
// text is checksummed), the text format that metadata is written in (libdevmapper's
// config syntax), the volume group it describes, and the one question the disk
// image code asks of it: where, in bytes from the start of its PV, a linear logical
// volume lies (LogicalVolume.Linear, VolumeGroup.ByteRange). Volumes that are not
// one contiguous run of extents on one PV (scattered segments, thin, RAID,
// snapshots) yield ErrUnsupportedLV.
//
// It knows nothing about images, loop devices or mounting: package diskimage finds
// the PVs of an image, keeps the newest copy of each volume group and maps each
// linear volume to a loop device of its own.
package lvm
