package evr

import "testing"

// benchPairs are typical comparisons of the update diff: same package, close versions.
var benchPairs = [][2]string{
	{"5.1.8-6.el9", "5.1.8-9.el9_3"},
	{"2:4.8.1-1.fc39", "2:4.8.1^20240101git1a2b3c-1.fc40"},
	{"1.0~rc1-1", "1.0-1"},
	{"1:2.36-9+deb12u4", "1:2.36-9+deb12u10~bpo11+1"},
	{"6.1.0-18-amd64", "6.1.0-21-amd64"},
}

func BenchmarkRPMVerCmp(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := benchPairs[i%len(benchPairs)]
		RPMVerCmp(p[0], p[1])
	}
}

func BenchmarkDebVerCmp(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := benchPairs[i%len(benchPairs)]
		DebVerCmp(p[0], p[1])
	}
}

func BenchmarkCompareRPM(b *testing.B) {
	evrs := make([][2]EVR, len(benchPairs))
	for i, p := range benchPairs {
		evrs[i] = [2]EVR{ParseRPM(p[0]), ParseRPM(p[1])}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := evrs[i%len(evrs)]
		CompareRPM(p[0], p[1])
	}
}

func BenchmarkCompareDeb(b *testing.B) {
	evrs := make([][2]EVR, len(benchPairs))
	for i, p := range benchPairs {
		x, _ := ParseDeb(p[0])
		y, _ := ParseDeb(p[1])
		evrs[i] = [2]EVR{x, y}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := evrs[i%len(evrs)]
		CompareDeb(p[0], p[1])
	}
}

func BenchmarkParseRPM(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ParseRPM(benchPairs[i%len(benchPairs)][1])
	}
}

func BenchmarkParseDeb(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := ParseDeb(benchPairs[i%len(benchPairs)][1]); err != nil {
			b.Fatal(err)
		}
	}
}
