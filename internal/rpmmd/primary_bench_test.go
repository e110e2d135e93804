package rpmmd

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// syntheticPackage is one package of writeSyntheticPrimary, with {fields}
// to fill in.
const syntheticPackage = `<package type="rpm">
  <name>{name}</name>
  <arch>{arch}</arch>
  <version epoch="{epoch}" ver="{ver}" rel="{rel}"/>
  <checksum type="sha256" pkgid="YES">{sum}</checksum>
  <summary>Synthetic package {name} for the primary.xml benchmark</summary>
  <description>This package exists only to give the parser something Fedora-sized to chew on.
It has a two-line description &amp; an entity, like many real ones.</description>
  <packager>Fedora Project</packager>
  <url>https://example.invalid/{name}</url>
  <time file="1704067200" build="1704000000"/>
  <size package="{size}" installed="{size}0" archive="{size}1"/>
  <location href="Packages/p/{name}-{ver}-{rel}.{arch}.rpm"/>
  <format>
    <rpm:license>MIT AND (GPL-2.0-or-later OR BSD-3-Clause)</rpm:license>
    <rpm:vendor>Fedora Project</rpm:vendor>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>buildvm-x86-{host}.iad2.fedoraproject.org</rpm:buildhost>
    <rpm:sourcerpm>{name}-{ver}-{rel}.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="{size}"/>
    <rpm:provides>
      <rpm:entry name="{name}" flags="EQ" epoch="{epoch}" ver="{ver}" rel="{rel}"/>
      <rpm:entry name="{name}(x86-64)" flags="EQ" epoch="{epoch}" ver="{ver}" rel="{rel}"/>
      <rpm:entry name="lib{name}.so.{host}()(64bit)"/>
      <rpm:entry name="config({name})" flags="EQ" epoch="{epoch}" ver="{ver}" rel="{rel}"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="libc.so.6()(64bit)"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
      <rpm:entry name="rtld(GNU_HASH)"/>
      <rpm:entry name="{next}" flags="GE" epoch="0" ver="1.0"/>
      <rpm:entry name="({next}-extra if {after})"/>
    </rpm:requires>
{obsoletes}    <file>/usr/bin/{name}</file>
    <file type="dir">/etc/{name}</file>
  </format>
</package>
`

// writeSyntheticPrimary writes a primary.xml of n packages shaped like
// Fedora's (as createrepo_c writes it): each package has a description,
// 4 provides, 6 requires, every tenth an obsoletes, and 2 files.
func writeSyntheticPrimary(w io.Writer, n int) {
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"%s\" xmlns:rpm=\"%s\" packages=\"%d\">\n",
		NamespaceCommon, NamespaceRPM, n)
	name := func(i int) string { return fmt.Sprintf("pkg%05d", i%n) }
	for i := range n {
		arch := "x86_64"
		if i%3 == 0 {
			arch = "noarch"
		}
		obsoletes := ""
		if i%10 == 0 {
			obsoletes = "    <rpm:obsoletes>\n      <rpm:entry name=\"" + name(i) + "-legacy\" flags=\"LT\" epoch=\"0\" ver=\"1.0\"/>\n    </rpm:obsoletes>\n"
		}
		strings.NewReplacer(
			"{name}", name(i),
			"{arch}", arch,
			"{epoch}", strconv.Itoa(i%3),
			"{ver}", fmt.Sprintf("%d.%d.%d", i%17, i%29, 1+i%7),
			"{rel}", fmt.Sprintf("%d.fc40", 1+i%7),
			"{sum}", fmt.Sprintf("%064x", i*7919),
			"{size}", strconv.Itoa(10000+i),
			"{host}", strconv.Itoa(i%64),
			"{next}", name(i+1),
			"{after}", name(i+2),
			"{obsoletes}", obsoletes,
		).WriteString(w, syntheticPackage)
	}
	fmt.Fprint(w, "</metadata>\n")
}

// BenchmarkParsePrimary parses a Fedora-sized primary.xml (70,000 packages).
func BenchmarkParsePrimary(b *testing.B) {
	const packages = 70000
	var doc bytes.Buffer
	writeSyntheticPrimary(&doc, packages)
	b.SetBytes(int64(doc.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		err := ParsePrimary(bytes.NewReader(doc.Bytes()), func(p *Package) error {
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != packages {
			b.Fatalf("parsed %d packages, want %d", n, packages)
		}
	}
}
