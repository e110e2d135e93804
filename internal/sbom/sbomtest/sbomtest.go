// Package sbomtest validates SBOMs against the formats' official JSON schemas (CycloneDX
// bom-1.6 with the SPDX license list and JSF schemas it references, SPDX 2.3), embedded from
// schema/ (see schema/README.md for where each file comes from). Tests import it; the plugin
// does not.
package sbomtest

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

//go:embed schema/*.json
var schemas embed.FS

// The schemas' $id values, under which they reference each other.
const (
	CycloneDX16 = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	SPDX23      = "http://spdx.org/rdf/terms/2.3"
)

var resources = map[string]string{
	CycloneDX16: "schema/bom-1.6.schema.json",
	"http://cyclonedx.org/schema/spdx.schema.json":     "schema/spdx.schema.json",
	"http://cyclonedx.org/schema/jsf-0.82.schema.json": "schema/jsf-0.82.schema.json",
	SPDX23: "schema/spdx-schema-2.3.json",
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	errLoad  error
)

func load() {
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time, uri, email … are checked, not only annotated
	for id, name := range resources {
		data, err := schemas.ReadFile(name)
		if err != nil {
			errLoad = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			errLoad = fmt.Errorf("%s: %w", name, err)
			return
		}
		if err := c.AddResource(id, doc); err != nil {
			errLoad = err
			return
		}
	}
	compiled = map[string]*jsonschema.Schema{}
	for _, id := range []string{CycloneDX16, SPDX23} {
		s, err := c.Compile(id)
		if err != nil {
			errLoad = fmt.Errorf("compiling %s: %w", id, err)
			return
		}
		compiled[id] = s
	}
}

// Validate checks the JSON document data against the schema with the given $id
// (CycloneDX16 or SPDX23); the error lists every violation.
func Validate(schemaID string, data []byte) error {
	once.Do(load)
	if errLoad != nil {
		return errLoad
	}
	s, ok := compiled[schemaID]
	if !ok {
		return fmt.Errorf("sbomtest: no schema %q", schemaID)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// ValidateFile validates the file at path: CycloneDX16 for a name ending in .cdx.json, else SPDX23.
func ValidateFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	id := SPDX23
	if bytes.HasSuffix([]byte(path), []byte(".cdx.json")) {
		id = CycloneDX16
	}
	if err := Validate(id, data); err != nil {
		return fmt.Errorf("%s does not conform to %s: %w", path, id, err)
	}
	return nil
}

// CheckBeside validates both SBOMs refit writes beside image (<image>.cdx.json and
// <image>.spdx.json) against the official schemas, reads them with sbom.Read, checks that
// their subject is the image (its file name, the given hex sha256 and format), and returns
// what each says, CycloneDX first.
func CheckBeside(tb testing.TB, image, sha256, format string) []*sbom.Record {
	tb.Helper()
	var records []*sbom.Record
	for _, f := range sbom.DefaultFormats {
		p := sbom.Path(image, f)
		if err := ValidateFile(p); err != nil {
			tb.Fatal(err)
		}
		rec, err := sbom.Read(p)
		if err != nil {
			tb.Fatal(err)
		}
		if want := (sbom.Image{Name: filepath.Base(image), SHA256: sha256, Format: format}); rec.Image != want {
			tb.Errorf("%s: subject %+v, want %+v", p, rec.Image, want)
		}
		records = append(records, rec)
	}
	return records
}
