package diskimage

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseFstab(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []FstabEntry
		err  bool
	}{
		{
			name: "Debian cloud image",
			text: "# /etc/fstab: static file system information.\n\nPARTUUID=9e2c-03 / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\nPARTUUID=9e2c-0f /boot/efi vfat defaults 0 0\n",
			want: []FstabEntry{
				{Spec: "PARTUUID=9e2c-03", Mountpoint: "/", Type: "ext4", Options: []string{"rw", "discard", "errors=remount-ro", "x-systemd.growfs"}, Line: 3},
				{Spec: "PARTUUID=9e2c-0f", Mountpoint: "/boot/efi", Type: "vfat", Options: []string{"defaults"}, Line: 4},
			},
		},
		{
			name: "EL9 with LVM, swap, two fields, octal escape, trailing slash",
			text: "/dev/mapper/rl-root     /                       xfs     defaults        0 0\n" +
				"UUID=a1 /boot xfs defaults 0 0\n/dev/mapper/rl-swap none swap defaults 0 0\nLABEL=my\\040data /srv/my\\040data/ ext4\n/dev/vdb1 /data\n",
			want: []FstabEntry{
				{Spec: "/dev/mapper/rl-root", Mountpoint: "/", Type: "xfs", Options: []string{"defaults"}, Line: 1},
				{Spec: "UUID=a1", Mountpoint: "/boot", Type: "xfs", Options: []string{"defaults"}, Line: 2},
				{Spec: "/dev/mapper/rl-swap", Mountpoint: "none", Type: "swap", Options: []string{"defaults"}, Line: 3},
				{Spec: "LABEL=my data", Mountpoint: "/srv/my data", Type: "ext4", Line: 4},
				{Spec: "/dev/vdb1", Mountpoint: "/data", Line: 5},
			},
		},
		{name: "one field", text: "UUID=x\n", err: true},
		{name: "relative mount point", text: "UUID=x boot ext4\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFstab(strings.NewReader(tt.text))
			if tt.err {
				if !errors.Is(err, ErrFstabSyntax) {
					t.Fatalf("err = %v, want ErrFstabSyntax", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFstabSkipReason(t *testing.T) {
	tests := []struct {
		line string
		skip bool
	}{
		{"UUID=x / ext4 defaults", true},
		{"UUID=x /boot ext4 defaults", false},
		{"UUID=x /boot/efi vfat umask=0077", false},
		{"/dev/vda4 /var xfs defaults", false},
		{"UUID=x none swap sw", true},
		{"/swapfile swap swap defaults", true},
		{"tmpfs /tmp tmpfs defaults", true},
		{"server:/export /mnt nfs defaults", true},
		{"//server/share /mnt cifs defaults", true},
		{"/srv /mnt/bind none bind", true},
		{"/srv /mnt/bind auto rbind", true},
		{"LABEL=data /data ext4 noauto", true},
		{"proc /proc proc defaults", true},
		{"/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto", true},
		{"host:/x /mnt/fuse fuse.sshfs defaults", true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			es, err := ParseFstab(strings.NewReader(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if why := es[0].skipReason(); (why != "") != tt.skip {
				t.Errorf("skipReason = %q, want skip=%v", why, tt.skip)
			}
		})
	}
}

func TestFstabMountOptions(t *testing.T) {
	es, err := ParseFstab(strings.NewReader("UUID=x /home btrfs compress=zstd:1,subvol=home,noatime 0 0"))
	if err != nil {
		t.Fatal(err)
	}
	if got := es[0].fstabMountOptions(); !reflect.DeepEqual(got, []string{"subvol=home"}) {
		t.Errorf("fstabMountOptions = %v", got)
	}
}

func TestFindFilesystem(t *testing.T) {
	fss := []Filesystem{
		{Device: "/dev/loop0p1", Partition: 1, Type: "vfat", UUID: "9E2C-0001", Label: "EFI", PartUUID: "9e2c0001-0000-4000-8000-000000000001", PartLabel: "efi"},
		{Device: "/dev/loop0p2", Partition: 2, Type: "ext4", UUID: "1f000001-0000-4000-8000-000000000001", Label: "boot", PartUUID: "1f000000-02"},
		{Device: "/dev/loop0p3", Partition: 3, Type: "LVM2_member", UUID: "z9rn1p-VlZT"},
		{Device: "/dev/loop1", VolumeGroup: "refit-vg", LogicalVolume: "root", Type: "ext4", UUID: "1f000002"},
		{VolumeGroup: "refit-vg", LogicalVolume: "scattered", Unusable: ErrUnsupportedLV},
	}
	tests := []struct {
		spec, want string
	}{
		{"2", "/dev/loop0p2"},
		{"9", ""},
		{"UUID=9e2c-0001", "/dev/loop0p1"},
		{`UUID="1f000001-0000-4000-8000-000000000001"`, "/dev/loop0p2"},
		{"LABEL=boot", "/dev/loop0p2"},
		{"LABEL=BOOT", ""},
		{"PARTUUID=9E2C0001-0000-4000-8000-000000000001", "/dev/loop0p1"},
		{"PARTUUID=1f000000-02", "/dev/loop0p2"},
		{"PARTLABEL=efi", "/dev/loop0p1"},
		{"/dev/disk/by-uuid/9E2C-0001", "/dev/loop0p1"},
		{"/dev/disk/by-label/boot", "/dev/loop0p2"},
		{"/dev/disk/by-partuuid/1f000000-02", "/dev/loop0p2"},
		{"UUID=z9rn1p-VlZT", ""}, // an LVM PV is never mounted
		{"/dev/vda2", "/dev/loop0p2"},
		{"/dev/sda1", "/dev/loop0p1"},
		{"/dev/xvda2", "/dev/loop0p2"},
		{"/dev/nvme0n1p1", "/dev/loop0p1"},
		{"/dev/vdb1", ""}, // another disk
		{"/dev/mapper/refit--vg-root", "/dev/loop1"},
		{"/dev/refit-vg/root", "/dev/loop1"},
		{"refit-vg/root", "/dev/loop1"},
		{"/dev/mapper/refit-vg-root", ""},
		{"/dev/refit-vg/scattered", ""}, // found, but unusable: no device
		{"/dev/disk/by-id/foo", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got := findFilesystem(fss, tt.spec)
			dev := ""
			if got != nil {
				dev = got.Device
			}
			if dev != tt.want {
				t.Errorf("findFilesystem(%q) = %q, want %q", tt.spec, dev, tt.want)
			}
		})
	}
	if got := findFilesystem(fss, "/dev/refit-vg/scattered"); got == nil || got.Unusable == nil {
		t.Errorf("the unusable volume is not found as such: %+v", got)
	}
}

func TestParseBlkidExport(t *testing.T) {
	out := "DEVNAME=/dev/loop0p3\nLABEL=my\\ label\nUUID=dfc35b71\nTYPE=ext4\nPART_ENTRY_UUID=b1cae6b7\nPART_ENTRY_NAME=root\\ fs\n"
	var f Filesystem
	parseBlkidExport(out).fill(&f)
	want := Filesystem{Type: "ext4", UUID: "dfc35b71", Label: "my label", PartUUID: "b1cae6b7", PartLabel: "root fs"}
	if f != want {
		t.Errorf("got %+v, want %+v", f, want)
	}
}

func TestParseMountinfo(t *testing.T) {
	text := "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
		"412 27 259:3 / /tmp/refit\\040x/mnt rw,relatime shared:1 master:2 - ext4 /dev/loop0p3 rw\n" +
		"413 412 0:51 / /tmp/refit\\040x/mnt/boot/efi ro,relatime - tmpfs refit-guard ro,size=4k\n" +
		"garbage\n"
	got, err := parseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountInfo{
		{"254:0", "/", "ext4", "/dev/vda"},
		{"259:3", "/tmp/refit x/mnt", "ext4", "/dev/loop0p3"},
		{"0:51", "/tmp/refit x/mnt/boot/efi", "tmpfs", "refit-guard"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func FuzzParseFstab(f *testing.F) {
	f.Add("UUID=x / ext4 defaults 0 1\n# c\nLABEL=a\\040b /a\\040b vfat umask=0077 0 2\n")
	f.Add("/dev/mapper/rl-root / xfs defaults 0 0\n/dev/mapper/rl-swap none swap defaults 0 0\n")
	if b, err := os.ReadFile("/etc/fstab"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := ParseFstab(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.skipReason() == "" && !strings.HasPrefix(e.Mountpoint, "/") {
				t.Fatalf("entry %+v would be mounted at a relative path", e)
			}
			_ = findFilesystem([]Filesystem{{Device: "/dev/loop0p1", Partition: 1, UUID: "x"}}, e.Spec)
		}
	})
}
