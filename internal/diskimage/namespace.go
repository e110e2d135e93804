package diskimage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNamespaceGone is returned when the process holding an image's mount namespace
// died, taking the namespace (and, lazily, its mounts) with it.
var ErrNamespaceGone = errors.New("diskimage: the image's mount namespace is gone")

// mountNamespace is a private mount namespace kept alive by a holder process, a shell
// blocked reading a pipe only refit writes to: closing the pipe, or refit dying,
// ends it. Commands enter it with nsenter; Go code reaches its files through
// /proc/<holder>/root.
type mountNamespace struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	pid    int
	id     string // "mnt:[4026532178]"
	exited chan struct{}
}

// newMountNamespace starts the holder. Its namespace starts as a copy of refit's;
// mounts of other images in that copy are lazily detached at once, so this
// namespace never keeps someone else's filesystem alive (the trap it exists to avoid).
func newMountNamespace(ctx context.Context, logf func(string, ...any)) (*mountNamespace, error) {
	// Not CommandContext: the namespace must outlive a cancelled ctx until teardown.
	cmd := exec.Command("sh", "-c", "read -r _")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS, // Go also makes "/" recursively private in the child
		Setpgid:      true,                // Ctrl-C to Packer's process group must not end the namespace before teardown
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("creating a mount namespace: %w", err)
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("creating a private mount namespace (needs root): %w", err)
	}
	ns := &mountNamespace{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(ns.exited)
	}()
	id, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", ns.pid))
	self, selfErr := os.Readlink("/proc/self/ns/mnt")
	if err != nil || selfErr != nil || id == self {
		ns.close()
		return nil, fmt.Errorf("creating a private mount namespace: the holder process did not get its own namespace (%v, %v)", err, selfErr)
	}
	ns.id = id
	ns.dropForeignMounts(ctx, logf)
	return ns, nil
}

// alive reports whether the holder still runs.
func (ns *mountNamespace) alive() bool {
	select {
	case <-ns.exited:
		return false
	default:
		return true
	}
}

// hostPath returns the path through which refit's own process reaches p (an absolute
// path inside the namespace).
func (ns *mountNamespace) hostPath(p string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", ns.pid), p)
}

// commandPrefix returns the argv prefix that runs a command inside the namespace.
func (ns *mountNamespace) commandPrefix() []string {
	return []string{"nsenter", "--target", strconv.Itoa(ns.pid), "--mount", "--"}
}

// run runs a command inside the namespace.
func (ns *mountNamespace) run(ctx context.Context, name string, args ...string) (string, error) {
	if !ns.alive() {
		return "", fmt.Errorf("%w: cannot run %s", ErrNamespaceGone, name)
	}
	argv := append(ns.commandPrefix(), name)
	return runCommand(ctx, argv[0], append(argv[1:], args...)...)
}

// mounts returns the namespace's mount table.
func (ns *mountNamespace) mounts() ([]mountInfo, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", ns.pid))
	if err != nil {
		if !ns.alive() {
			return nil, ErrNamespaceGone
		}
		return nil, fmt.Errorf("reading the namespace's mount table: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

// dropForeignMounts lazily detaches, in this namespace only, filesystems on loop,
// nbd and device-mapper devices that were mounted when the namespace was copied.
func (ns *mountNamespace) dropForeignMounts(ctx context.Context, logf func(string, ...any)) {
	mis, err := ns.mounts()
	if err != nil {
		return
	}
	var targets []string
	for _, mi := range mis {
		if isImageDevice(mi.source) {
			targets = append(targets, mi.mountpoint)
		}
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	for _, t := range targets {
		if _, err := ns.run(ctx, "umount", "--lazy", "--", t); err != nil {
			logf("could not drop the copy of %s from the private mount namespace: %v", t, err)
		}
	}
}

// isImageDevice reports whether a mount source is a device images are attached to.
func isImageDevice(source string) bool {
	for _, p := range []string{"/dev/loop", "/dev/nbd", "/dev/mapper/", "/dev/dm-"} {
		if strings.HasPrefix(source, p) {
			return true
		}
	}
	return false
}

// otherProcesses lists "pid (command)" for processes in the namespace besides the holder:
// what keeps a filesystem busy.
func (ns *mountNamespace) otherProcesses() []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == ns.pid {
			continue
		}
		if id, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && id == ns.id {
			out = append(out, processName(pid))
		}
	}
	return out
}

// processName returns "pid (comm)".
func processName(pid int) string {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm)))
}

// close ends the holder and waits for it (bounded). The namespace itself lives on
// while other processes are in it; teardown checks that separately.
func (ns *mountNamespace) close() {
	if ns == nil {
		return
	}
	ns.stdin.Close()
	select {
	case <-ns.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = ns.cmd.Process.Kill()
	<-ns.exited
}

// mountInfo is one line of /proc/<pid>/mountinfo.
type mountInfo struct {
	majorMinor string // "7:1"
	mountpoint string
	fstype     string
	source     string
}

// parseMountinfo reads /proc/<pid>/mountinfo (proc(5)): "id parent maj:min root
// mountpoint options [optional fields...] - fstype source superoptions".
func parseMountinfo(r io.Reader) ([]mountInfo, error) {
	var out []mountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, mountInfo{
			majorMinor: fields[2],
			mountpoint: unescapeFstab(fields[4]),
			fstype:     fields[sep+1],
			source:     unescapeFstab(fields[sep+2]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	return out, nil
}

// processesMounting lists "pid (command)" for every process whose mount namespace
// has the device majorMinor mounted: the ones keeping an unmounted filesystem alive.
func processesMounting(majorMinor string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		id, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		if err != nil || seen[id] {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
		if err != nil {
			continue
		}
		mis, _ := parseMountinfo(f)
		f.Close()
		seen[id] = true
		for _, mi := range mis {
			if mi.majorMinor == majorMinor {
				out = append(out, processName(pid)+" in "+id)
				break
			}
		}
	}
	return out
}

// Namespace is a private mount namespace for mounts that are not a disk image's (a
// container image's overlay): the same holder process, entered the same way.
type Namespace struct{ ns *mountNamespace }

// NewNamespace starts a private mount namespace (needs root); Close ends it.
func NewNamespace(ctx context.Context, log func(string)) (*Namespace, error) {
	ns, err := newMountNamespace(ctx, func(format string, args ...any) {
		if log != nil {
			log(fmt.Sprintf(format, args...))
		}
	})
	if err != nil {
		return nil, err
	}
	return &Namespace{ns: ns}, nil
}

// CommandPrefix returns the argv prefix (nsenter …) running a command inside the namespace.
func (n *Namespace) CommandPrefix() []string { return n.ns.commandPrefix() }

// HostPath returns the path through which this process reaches p inside the namespace.
func (n *Namespace) HostPath(p string) string { return n.ns.hostPath(p) }

// Run runs a command inside the namespace and returns its output; the error carries it.
func (n *Namespace) Run(ctx context.Context, name string, args ...string) (string, error) {
	return n.ns.run(ctx, name, args...)
}

// Close ends the holder process; mounts left in the namespace go with it.
func (n *Namespace) Close() { n.ns.close() }
