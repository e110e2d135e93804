package diskimage_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

func ExampleParseFstab() {
	entries, err := diskimage.ParseFstab(strings.NewReader(`# /etc/fstab
/dev/mapper/rl-root  /          xfs   defaults     0 0
UUID=7B77-95E7       /boot/efi  vfat  umask=0077   0 2
/dev/mapper/rl-swap  none       swap  defaults     0 0
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		fmt.Println(e.Spec, e.Mountpoint, e.Type, e.HasOption("umask=0077"))
	}
	// Output:
	// /dev/mapper/rl-root / xfs false
	// UUID=7B77-95E7 /boot/efi vfat true
	// /dev/mapper/rl-swap none swap false
}

func ExampleDetectFormat() {
	f, err := os.CreateTemp("", "example-*.qcow2")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	// The name says qcow2, the content (an empty MBR disk) says raw.
	if _, err := f.WriteAt([]byte{0x55, 0xaa}, 510); err != nil {
		log.Fatal(err)
	}
	f.Close()
	format, err := diskimage.DetectFormat(f.Name())
	fmt.Println(format, err)
	// Output: raw <nil>
}

// ExampleOpenReadOnly reads a file from an image without writing to it (needs root).
func ExampleOpenReadOnly() {
	ctx := context.Background()
	if err := diskimage.CheckHost(); err != nil {
		log.Fatal(err)
	}
	s, err := diskimage.OpenReadOnly(ctx, "rocky-9.qcow2", diskimage.Options{MountFstab: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	p, err := s.Mounts.ResolvePath("/etc/os-release")
	if err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
}

// Example shows the writable flow of the refit-chroot builder (needs root).
func Example() {
	ctx := context.Background()
	if err := diskimage.VerifyChecksum("in.qcow2", "sha256:…"); err != nil {
		log.Fatal(err)
	}
	if _, err := diskimage.MakeWorkingCopy(ctx, "in.qcow2", "work.raw"); err != nil {
		log.Fatal(err)
	}
	img, err := diskimage.Attach(ctx, "work.raw", diskimage.Options{MountFstab: true, Log: func(s string) { log.Print(s) }})
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close() // idempotent: undoes whatever is left after an error
	m, err := img.MountRoot(ctx, "/mnt/refit-build")
	if err != nil {
		log.Print(err)
		return
	}
	for _, g := range m.Guarded() {
		log.Printf("%s is not mounted (%s): writes there fail", g.Mountpoint, g.Reason)
	}
	// … run the provisioners with img.CommandPrefix() + chroot /mnt/refit-build …
	if err := m.Unmount(ctx); err != nil {
		log.Print(err)
		return
	}
	if err := img.Detach(ctx); err != nil {
		log.Print(err)
		return
	}
	if err := diskimage.Convert(ctx, "work.raw", "out.qcow2", diskimage.FormatQcow2, diskimage.CompressZlib); err != nil {
		log.Print(err)
	}
}
