package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// Unmount trims, flushes and unmounts everything MountRoot mounted, in reverse order
// (plus anything a build mounted below the root meanwhile), then waits until each
// filesystem is really gone from the kernel and, for a writable image, checks it
// read-only (e2fsck -fn, xfs_repair -n). Trimming (fstrim) discards the blocks each
// writable filesystem has freed: the loop device punches them out of the image file,
// so a converted image holds only the blocks in use. It is skipped when ctx is
// already cancelled (the image is about to be thrown away); the rest runs to the end
// even then. Unmount is idempotent and may be called again after an error.
func (m *Mounts) Unmount(ctx context.Context) error {
	m.img.mu.Lock()
	defer m.img.mu.Unlock()
	trim := ctx.Err() == nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	if trim {
		m.trimLocked(ctx)
	}
	return m.unmountLocked(ctx, trim)
}

// trimLocked discards the freed blocks of each writable filesystem still mounted
// (fstrim, through the loop device into the image file). A filesystem that cannot be
// trimmed is only logged: the image is as correct as before, just bigger.
func (m *Mounts) trimLocked(ctx context.Context) {
	ns := m.img.ns
	if m.done || ns == nil || !ns.alive() {
		return
	}
	seen := map[string]bool{} // a device mounted twice (btrfs subvolumes) is trimmed once
	for _, r := range m.records {
		if r.unmounted || r.readOnly || r.guard || r.fat != nil || seen[r.mounted.Filesystem.Device] {
			continue
		}
		seen[r.mounted.Filesystem.Device] = true
		out, err := ns.run(ctx, "fstrim", "--verbose", "--", r.mounted.Target)
		if err != nil {
			m.img.logf("could not discard the freed blocks of %s (fstrim): %v", r.mounted.Mountpoint, err)
			continue
		}
		m.img.logf("%s", strings.TrimSpace(out))
	}
}

// Close is Unmount with a background context; it implements io.Closer.
func (m *Mounts) Close() error { return m.Unmount(context.Background()) }

// unmountLocked unmounts everything; keep says the image is kept, so staged FAT
// filesystems are written back first (a discarded image skips that).
func (m *Mounts) unmountLocked(ctx context.Context, keep bool) error {
	if m.done {
		return nil
	}
	start := time.Now()
	ns := m.img.ns
	var errs []error
	if ns != nil && ns.alive() {
		errs = append(errs, m.unmountForeign(ctx)...)
		if keep && len(errs) == 0 {
			// Nothing runs in the image any more: write the staged FAT files back.
			for _, r := range m.records {
				if r.fat != nil && !r.unmounted && !r.readOnly {
					if err := m.writeBackFAT(ctx, r); err != nil {
						return fmt.Errorf("unmounting %s: %w", m.img.path, err)
					}
				}
			}
		}
		// Flush first: fsfreeze writes everything out and leaves a clean journal.
		for i := len(m.records) - 1; i >= 0; i-- {
			r := m.records[i]
			if r.unmounted || r.readOnly || r.fat != nil {
				continue
			}
			if _, err := ns.run(ctx, "fsfreeze", "--freeze", r.mounted.Target); err != nil {
				// umount flushes too; the fsck below tells whether that was enough.
				m.img.logf("could not flush %s with fsfreeze: %v", r.mounted.Mountpoint, err)
				continue
			}
			if _, err := ns.run(ctx, "fsfreeze", "--unfreeze", r.mounted.Target); err != nil {
				// Unmounting a frozen filesystem would block: stop here, a retry thaws it.
				return fmt.Errorf("unmounting %s: thawing %s after flushing it: %w", m.img.path, r.mounted.Mountpoint, err)
			}
		}
		for i := len(m.records) - 1; i >= 0; i-- {
			r := m.records[i]
			if r.unmounted {
				continue
			}
			if err := m.umount(ctx, r.mounted.Target); err != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", r.mounted.Mountpoint, err))
				break // its parents are busy too
			}
			r.unmounted = true
			if !r.guard {
				m.pending = append(m.pending, r)
			}
		}
	} else {
		// The namespace died (the holder was killed): its mounts went with it, lazily.
		for _, r := range m.records {
			if !r.unmounted {
				r.unmounted = true
				if !r.guard {
					m.pending = append(m.pending, r)
				}
			}
		}
	}
	m.records = slices.DeleteFunc(m.records, func(r *mountRecord) bool { return r.unmounted })
	if len(errs) > 0 {
		if procs := m.busyProcesses(); procs != "" {
			errs = append(errs, fmt.Errorf("%w: processes still running inside the image: %s; stop them (prevent_service_start) and retry", ErrFilesystemBusy, procs))
		}
		return fmt.Errorf("unmounting %s: %w", m.img.path, errors.Join(errs...))
	}
	// Wait until each superblock is gone, then check the filesystem read-only.
	for len(m.pending) > 0 {
		r := m.pending[0]
		if err := waitSuperblockGone(ctx, r); err != nil {
			return fmt.Errorf("unmounting %s: %w", m.img.path, err)
		}
		if !r.readOnly && r.fat == nil {
			if err := checkFilesystem(ctx, r.mounted.Filesystem); err != nil {
				return fmt.Errorf("unmounting %s: %w", m.img.path, err)
			}
		}
		m.pending = m.pending[1:]
	}
	m.done = true
	m.img.logf("unmounted %s in %v", m.img.path, time.Since(start).Round(time.Millisecond))
	return nil
}

func (m *Mounts) busyProcesses() string {
	if m.img.ns == nil {
		return ""
	}
	return strings.Join(m.img.ns.otherProcesses(), ", ")
}

// unmountForeign unmounts, deepest first, what others (a build's chroot mounts of
// /proc, /dev, ...) left mounted below the root inside the namespace.
func (m *Mounts) unmountForeign(ctx context.Context) []error {
	mis, err := m.img.ns.mounts()
	if err != nil {
		return []error{err}
	}
	ours := map[string]bool{}
	for _, r := range m.records {
		ours[r.mounted.Target] = true
	}
	var foreign []string
	for _, mi := range mis {
		if !ours[mi.mountpoint] && strings.HasPrefix(mi.mountpoint, m.root+"/") {
			foreign = append(foreign, mi.mountpoint)
		}
	}
	// mountinfo lists mounts in mount order: undo in reverse.
	var errs []error
	for i := len(foreign) - 1; i >= 0; i-- {
		m.img.logf("unmounting %s, mounted below the image root by someone else", foreign[i])
		if err := m.umount(ctx, foreign[i]); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", foreign[i], err))
		}
	}
	return errs
}

// umount unmounts target, retrying (bounded) while it is busy.
func (m *Mounts) umount(ctx context.Context, target string) error {
	delay := 100 * time.Millisecond
	deadline := time.Now().Add(umountRetry)
	for {
		_, err := m.img.ns.run(ctx, "umount", "--", target)
		if err == nil {
			return nil
		}
		var ce *CommandError
		msg := ""
		if errors.As(err, &ce) {
			msg = ce.Stderr
		}
		if strings.Contains(msg, "not mounted") {
			return nil
		}
		if !strings.Contains(msg, "busy") || time.Now().After(deadline) {
			return err
		}
		if serr := sleepContext(ctx, delay); serr != nil {
			return err
		}
		delay = min(2*delay, time.Second)
	}
}

// umountRetry bounds the retries of a busy umount.
const umountRetry = 10 * time.Second

// superblockWait bounds the wait for an unmounted filesystem to leave the kernel
// (a variable so tests can shorten it).
var superblockWait = 30 * time.Second

// waitSuperblockGone waits until the filesystem of r has left the kernel. It stays
// when another mount namespace still holds a copy of the mount (a process that
// called unshare --mount while it was mounted): converting the image then would
// read a half-written filesystem.
func waitSuperblockGone(ctx context.Context, r *mountRecord) error {
	if r.sysfsDir == "" {
		return nil
	}
	deadline := time.Now().Add(superblockWait)
	for {
		if _, err := os.Stat(r.sysfsDir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			holders := processesMounting(r.devNumber)
			who := "no process shows it mounted (a lazy unmount elsewhere?)"
			if len(holders) > 0 {
				who = "still mounted by " + strings.Join(holders, ", ") + " (processes that called unshare --mount while the image was mounted); end them"
			}
			return fmt.Errorf("%w: %s (%s) is unmounted but still alive in the kernel after %v: %s",
				ErrFilesystemBusy, r.mounted.Mountpoint, r.mounted.Filesystem.Device, superblockWait, who)
		}
		if err := sleepContext(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %s to leave the kernel: %w", r.mounted.Mountpoint, err)
		}
	}
}

// checkFilesystem runs the filesystem's checker read-only on its device.
func checkFilesystem(ctx context.Context, f Filesystem) error {
	var args []string
	switch f.Type {
	case "ext2", "ext3", "ext4":
		args = []string{"e2fsck", "-f", "-n", f.Device}
	case "xfs":
		if err := lookTool(xfsRepair); err != nil {
			return err
		}
		args = []string{"xfs_repair", "-n", f.Device}
	default:
		return nil
	}
	if _, err := runCommand(ctx, args[0], args[1:]...); err != nil {
		return fmt.Errorf("%w: %s after unmount: %w", ErrFsck, f, err)
	}
	return nil
}
