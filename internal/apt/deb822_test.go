package apt

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// readParagraphs returns every paragraph of input as "line:name=value" lists.
func readParagraphs(input string, keep ...string) ([][]string, error) {
	pr := newParagraphReader(strings.NewReader(input), keep...)
	var (
		out [][]string
		p   paragraph
	)
	for {
		err := pr.next(&p)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var fields []string
		for _, f := range p.fields {
			fields = append(fields, fmt.Sprintf("%d:%s=%s", f.line, f.name, f.value))
		}
		out = append(out, fields)
	}
}

func TestParagraphReader(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		keep    []string
		want    [][]string
		wantErr string // substring; the error must also wrap ErrSyntax
	}{
		{
			name:  "one paragraph",
			input: "Package: a\nVersion: 1\n",
			want:  [][]string{{"1:package=a", "2:version=1"}},
		},
		{
			name:  "continuation lines keep their order, lose indentation",
			input: "Description: short\n first\n  second\n .\nNext: x\n",
			want:  [][]string{{"1:description=short\nfirst\nsecond\n.", "5:next=x"}},
		},
		{
			name:  "empty first line of a multi-line field",
			input: "SHA256:\n aa 1 x\n bb 2 y\n",
			want:  [][]string{{"1:sha256=\naa 1 x\nbb 2 y"}},
		},
		{
			name:  "paragraphs separated by several blank and white-space-only lines",
			input: "\n\nA: 1\n\n \t\n\nB: 2\n\n",
			want:  [][]string{{"3:a=1"}, {"7:b=2"}},
		},
		{
			name:  "CRLF line endings and no final newline",
			input: "A: 1\r\nB:  two words  \r\n\r\nC: 3",
			want:  [][]string{{"1:a=1", "2:b=two words"}, {"4:c=3"}},
		},
		{
			name:  "field names are case-insensitive, values keep case",
			input: "PACKAGE: Foo\nmulti-ARCH: Same\n",
			want:  [][]string{{"1:package=Foo", "2:multi-arch=Same"}},
		},
		{
			name:  "value may contain colons",
			input: "Date: Sat, 10 Jun 2023 08:53:47 UTC\n",
			want:  [][]string{{"1:date=Sat, 10 Jun 2023 08:53:47 UTC"}},
		},
		{
			name:  "empty value",
			input: "A:\nB: 1\n",
			want:  [][]string{{"1:a=", "2:b=1"}},
		},
		{
			name:  "only kept fields are stored",
			input: "Package: a\nDescription: long\n text\nVersion: 1\n",
			keep:  []string{"package", "version"},
			want:  [][]string{{"1:package=a", "4:version=1"}},
		},
		{
			name:  "empty input",
			input: "",
		},
		{name: "continuation before any field", input: " orphan\n", wantErr: "line 1: continuation line outside a field"},
		{name: "continuation at the start of a paragraph", input: "A: 1\n\n orphan\n", wantErr: "line 3: continuation"},
		{name: "line without colon", input: "A: 1\nnot a field\n", wantErr: "line 2:"},
		{name: "line starting with a colon", input: ": value\n", wantErr: "line 1:"},
		{name: "duplicate field", input: "A: 1\nB: 2\na: 3\n", wantErr: "line 3: field \"a\" appears twice"},
		{name: "duplicate skipped field", input: "A: 1\nB: 2\nB: 3\n", keep: []string{"a"}, wantErr: "line 3"},
		{name: "same field in two paragraphs is fine", input: "A: 1\n\nA: 2\n", want: [][]string{{"1:a=1"}, {"3:a=2"}}},
		{name: "comment line", input: "# comment\nA: 1\n", wantErr: "line 1: \"# comment\" is neither"},
		{name: "comment line with a colon", input: "# note: x\nA: 1\n", wantErr: "line 1: invalid field name"},
		{name: "field name with a dash first", input: "-A: 1\n", wantErr: "line 1: invalid field name"},
		{name: "field name with a space", input: "Bad Name: 1\n", wantErr: "line 1: invalid field name"},
		{name: "overlong line", input: "A: " + strings.Repeat("x", maxLineBytes+1) + "\n", wantErr: "line 1: longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readParagraphs(tt.input, tt.keep...)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrSyntax containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("paragraphs =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestParagraphFolded(t *testing.T) {
	pr := newParagraphReader(strings.NewReader("Depends: a,\n b (>= 1),\n\tc\nProvides: x\n"))
	var p paragraph
	if err := pr.next(&p); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, want string }{
		{"depends", "a, b (>= 1), c"},
		{"provides", "x"},
		{"missing", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.folded(tt.name); got != tt.want {
				t.Errorf("folded(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}
