// Package rpmfile reads RPM package files without installing them: the name, version and
// architecture, every script the package carries (scriptlets, triggers and file triggers,
// with their interpreters), and the paths of its cpio payload, which it checks so that no
// entry can land outside the root it is installed into.
//
// It owns the payload rules for RPMs; the header format itself is read with
// github.com/cavaliergopher/rpm, and payloads are decompressed with package decompress.
package rpmfile

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cavaliergopher/rpm"

	"github.com/refit-images/packer-plugin-refit/internal/debfile"
	"github.com/refit-images/packer-plugin-refit/internal/decompress"
	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
)

var (
	// ErrFormat is wrapped by every error about a file that is not a well-formed RPM,
	// including a truncated one.
	ErrFormat = errors.New("rpmfile: not a valid RPM")
	// ErrUnsafePath is debfile.ErrUnsafePath: the same rules hold for both package formats.
	ErrUnsafePath = debfile.ErrUnsafePath
)

// Header tags of scripts (ref. rpm's include/rpm/rpmtag.h).
const (
	tagPreIn           = 1023
	tagPostIn          = 1024
	tagPreUn           = 1025
	tagPostUn          = 1026
	tagTriggerScripts  = 1065
	tagTriggerFlags    = 1068
	tagTriggerIndex    = 1069
	tagPreInProg       = 1085
	tagPostInProg      = 1086
	tagPreUnProg       = 1087
	tagPostUnProg      = 1088
	tagTriggerProg     = 1092
	tagPreTrans        = 1151
	tagPostTrans       = 1152
	tagPreTransProg    = 1153
	tagPostTransProg   = 1154
	tagFileTrigScripts = 5066
	tagFileTrigProg    = 5067
	tagFileTrigFlags   = 5068
	tagTransTrigScript = 5076
	tagTransTrigProg   = 5077
	tagTransTrigFlags  = 5078
)

// Trigger sense flags (ref. rpm's include/rpm/rpmds.h RPMSENSE_TRIGGER*).
const (
	senseTriggerIn     = 1 << 16
	senseTriggerUn     = 1 << 17
	senseTriggerPostUn = 1 << 18
	senseTriggerPreIn  = 1 << 25
)

// Package is what refit needs to know about one RPM file.
type Package struct {
	Name, Version, Release, Arch string
	// Epoch is the EPOCH tag; HasEpoch tells whether the tag is present at all.
	Epoch    int
	HasEpoch bool
	// Scripts are every scriptlet, trigger and file trigger of the package.
	Scripts []scriptlet.Script
	// Paths are the payload's entries, cleaned and absolute ("/usr/bin/x").
	Paths []string
	// Requires, Provides and Obsoletes are the dependency entries as "name [op version]".
	Requires, Provides, Obsoletes []string
}

// Read reads an RPM from r: the header, then the whole payload, checking every entry. It
// reads r to the end.
func Read(r io.Reader) (*Package, error) {
	br := bufio.NewReader(r)
	h, err := rpm.Read(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (truncated download?)", ErrFormat, err)
	}
	p := &Package{Name: h.Name(), Version: h.Version(), Release: h.Release(), Arch: h.Architecture(), Epoch: h.Epoch()}
	p.HasEpoch = h.Header.GetTag(1003) != nil
	if p.Name == "" || p.Version == "" {
		return nil, fmt.Errorf("%w: header has no name or version", ErrFormat)
	}
	p.Scripts = scripts(h)
	for _, d := range h.Requires() {
		p.Requires = append(p.Requires, dependencyString(d))
	}
	for _, d := range h.Provides() {
		p.Provides = append(p.Provides, dependencyString(d))
	}
	for _, d := range h.Obsoletes() {
		p.Obsoletes = append(p.Obsoletes, dependencyString(d))
	}
	if f := h.PayloadFormat(); f != "" && f != "cpio" {
		return nil, fmt.Errorf("%w: payload format %q is not cpio", ErrFormat, f)
	}
	payload, err := decompress.RPMPayload(br, h.PayloadCompression(), 0)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrFormat, err)
	}
	defer payload.Close()
	if p.Paths, err = CheckPayload(payload); err != nil {
		return nil, err
	}
	return p, nil
}

func dependencyString(d rpm.Dependency) string {
	s := d.Name()
	if v := d.Version(); v != "" {
		op := ""
		f := d.Flags()
		if f&rpm.DepFlagLesser != 0 {
			op += "<"
		}
		if f&rpm.DepFlagGreater != 0 {
			op += ">"
		}
		if f&rpm.DepFlagEqual != 0 {
			op += "="
		}
		evr := v
		if d.Epoch() > 0 {
			evr = strconv.Itoa(d.Epoch()) + ":" + v
		}
		if d.Release() != "" {
			evr += "-" + d.Release()
		}
		s += " " + op + " " + evr
	}
	return s
}

// prog returns a script's interpreter tag, which is a string or (rpm >= 4.4) a string array.
func prog(h *rpm.Package, tag int) string {
	t := h.Header.GetTag(tag)
	if t == nil {
		return ""
	}
	if s := t.StringSlice(); len(s) > 0 {
		return strings.Join(s, " ")
	}
	return t.String()
}

func scripts(h *rpm.Package) []scriptlet.Script {
	var out []scriptlet.Script
	add := func(kind scriptlet.Kind, body, interp string) {
		if body == "" && interp == "" {
			return
		}
		out = append(out, scriptlet.Script{Package: h.Name(), Kind: kind, Interpreter: interp, Body: body})
	}
	for _, s := range []struct {
		kind            scriptlet.Kind
		bodyTag, progTg int
	}{
		{scriptlet.KindPreTrans, tagPreTrans, tagPreTransProg},
		{scriptlet.KindPre, tagPreIn, tagPreInProg},
		{scriptlet.KindPost, tagPostIn, tagPostInProg},
		{scriptlet.KindPreUn, tagPreUn, tagPreUnProg},
		{scriptlet.KindPostUn, tagPostUn, tagPostUnProg},
		{scriptlet.KindPostTrans, tagPostTrans, tagPostTransProg},
	} {
		body := ""
		if t := h.Header.GetTag(s.bodyTag); t != nil {
			body = t.String()
		}
		add(s.kind, body, prog(h, s.progTg))
	}
	// Classic triggers: one script per trigger index; the sense flags of the conditions
	// pointing at it tell its kind.
	if t := h.Header.GetTag(tagTriggerScripts); t != nil {
		bodies := t.StringSlice()
		progs := tagSlice(h, tagTriggerProg)
		flags := int64Slice(h, tagTriggerFlags)
		index := int64Slice(h, tagTriggerIndex)
		for i, body := range bodies {
			kind := scriptlet.KindTriggerIn
			for j, ix := range index {
				if int(ix) == i && j < len(flags) {
					kind = triggerKind(flags[j], scriptlet.KindTriggerIn, scriptlet.KindTriggerUn, scriptlet.KindTriggerPostUn, scriptlet.KindTriggerPreIn)
					break
				}
			}
			add(kind, body, at(progs, i))
		}
	}
	for _, ft := range []struct {
		scripts, progs, flags int
		in, un, postun        scriptlet.Kind
	}{
		{tagFileTrigScripts, tagFileTrigProg, tagFileTrigFlags, scriptlet.KindFileTriggerIn, scriptlet.KindFileTriggerUn, scriptlet.KindFileTriggerPostUn},
		{tagTransTrigScript, tagTransTrigProg, tagTransTrigFlags, scriptlet.KindTransFileTriggerIn, scriptlet.KindTransFileTriggerUn, scriptlet.KindTransFileTriggerPostUn},
	} {
		t := h.Header.GetTag(ft.scripts)
		if t == nil {
			continue
		}
		progs := tagSlice(h, ft.progs)
		flags := int64Slice(h, ft.flags)
		for i, body := range t.StringSlice() {
			kind := ft.in
			if i < len(flags) {
				kind = triggerKind(flags[i], ft.in, ft.un, ft.postun, ft.in)
			}
			add(kind, body, at(progs, i))
		}
	}
	return out
}

func triggerKind(flags int64, in, un, postun, prein scriptlet.Kind) scriptlet.Kind {
	switch {
	case flags&senseTriggerPreIn != 0:
		return prein
	case flags&senseTriggerUn != 0:
		return un
	case flags&senseTriggerPostUn != 0:
		return postun
	}
	return in
}

func tagSlice(h *rpm.Package, tag int) []string {
	if t := h.Header.GetTag(tag); t != nil {
		return t.StringSlice()
	}
	return nil
}

func int64Slice(h *rpm.Package, tag int) []int64 {
	if t := h.Header.GetTag(tag); t != nil {
		return t.Int64Slice()
	}
	return nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// cpio "newc" constants (ref. rpm's lib/cpio.c).
const (
	cpioMagic     = "070701"
	cpioCRCMagic  = "070702"
	cpioHeaderLen = 110
	cpioTrailer   = "TRAILER!!!"
	modeTypeMask  = 0o170000
	modeSymlink   = 0o120000
	modeChar      = 0o020000
	modeBlock     = 0o060000
	maxCpioName   = 4096
	maxLinkTarget = 4096
)

// CheckPayload reads a decompressed cpio (newc) payload to its trailer, checks every entry
// with the rules of ErrUnsafePath, and returns the entries' absolute paths. A payload that
// ends before its trailer is ErrFormat (a truncated package).
func CheckPayload(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	links := map[string]bool{}
	var paths []string
	var off int64
	hdr := make([]byte, cpioHeaderLen)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return nil, fmt.Errorf("%w: payload ends before its trailer (truncated download?)", ErrFormat)
		}
		off += cpioHeaderLen
		if m := string(hdr[:6]); m != cpioMagic && m != cpioCRCMagic {
			return nil, fmt.Errorf("%w: bad cpio magic %q", ErrFormat, m)
		}
		field := func(i int) (int64, error) {
			return strconv.ParseInt(string(hdr[6+8*i:14+8*i]), 16, 64)
		}
		mode, err1 := field(1)
		size, err2 := field(6)
		nameLen, err3 := field(11)
		if err := errors.Join(err1, err2, err3); err != nil || nameLen < 1 || nameLen > maxCpioName || size < 0 {
			return nil, fmt.Errorf("%w: bad cpio header", ErrFormat)
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, fmt.Errorf("%w: payload truncated in a file name", ErrFormat)
		}
		off += nameLen
		if err := skip(br, pad4(off)); err != nil {
			return nil, err
		}
		off += pad4(off)
		n := strings.TrimRight(string(name), "\x00")
		if n == cpioTrailer {
			return paths, nil
		}
		typ := byte(tar.TypeReg)
		link := ""
		switch mode & modeTypeMask {
		case modeSymlink:
			typ = tar.TypeSymlink
			if size > maxLinkTarget {
				return nil, fmt.Errorf("%w: symlink target of %q too long", ErrFormat, n)
			}
			buf := make([]byte, size)
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, fmt.Errorf("%w: payload truncated in %q", ErrFormat, n)
			}
			link = string(buf)
		case modeChar:
			typ = tar.TypeChar
		case modeBlock:
			typ = tar.TypeBlock
		}
		p, err := debfile.CheckPath(n, typ, link, links)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
		if typ != tar.TypeSymlink {
			if err := skip(br, size); err != nil {
				return nil, fmt.Errorf("%w (in %q)", err, n)
			}
		}
		off += size
		if err := skip(br, pad4(off)); err != nil {
			return nil, err
		}
		off += pad4(off)
	}
}

func pad4(off int64) int64 { return (4 - off%4) % 4 }

func skip(r io.Reader, n int64) error {
	if n == 0 {
		return nil
	}
	got, err := io.CopyN(io.Discard, r, n)
	if err != nil || got != n {
		return fmt.Errorf("%w: payload truncated", ErrFormat)
	}
	return nil
}
