package rpmmd

import (
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// ModuleStream is one build of a module stream (a modulemd document), e.g.
// nodejs:18 for x86_64.
type ModuleStream struct {
	Name    string
	Stream  string
	Context string
	Arch    string
	// Version is the stream's build version; higher is newer.
	Version uint64
	// Artifacts are the packages of the stream as
	// "name-epoch:version-release.arch" (source packages included); see
	// ParseNEVRA.
	Artifacts []string
}

// Modules is the content of a repository's modules.yaml.
type Modules struct {
	Streams []ModuleStream
	// Defaults maps a module name to its default stream. Modules whose
	// defaults name no stream are absent; when several documents set a
	// default for the same module, the last one wins.
	Defaults map[string]string
}

// ParseModules reads modules.yaml, a stream of YAML documents. It keeps
// modulemd documents (versions 1 and 2) and modulemd-defaults documents
// (version 1) and ignores every other document type (modulemd-obsoletes,
// modulemd-translations, modulemd-packager...). A modulemd document of
// another version, one without name or stream, an artifact that is not a
// NEVRA, or malformed YAML fails with an error wrapping [ErrInvalid] that
// gives the document's position and line.
func ParseModules(r io.Reader) (mods *Modules, err error) {
	// yaml.v3 reports errors by panicking internally and recovering; a
	// panic that escapes it is a bug in it, still malformed input to us.
	defer func() {
		if p := recover(); p != nil {
			mods, err = nil, fmt.Errorf("%w: modules.yaml: YAML parser failed: %v", ErrInvalid, p)
		}
	}()
	mods = &Modules{Defaults: map[string]string{}}
	in := &readRecorder{r: r}
	dec := yaml.NewDecoder(in)
	for index := 1; ; index++ {
		var node yaml.Node
		if err := dec.Decode(&node); err != nil {
			switch {
			case in.err != nil:
				return nil, fmt.Errorf("reading modules.yaml: %w", in.err)
			case errors.Is(err, io.EOF):
				return mods, nil
			}
			return nil, fmt.Errorf("%w: modules.yaml document %d: %w", ErrInvalid, index, err)
		}
		if err := mods.add(&node, index); err != nil {
			return nil, err
		}
	}
}

// yamlDocument is the envelope of every modulemd-family document.
type yamlDocument struct {
	Document string    `yaml:"document"`
	Version  int       `yaml:"version"`
	Data     yaml.Node `yaml:"data"`
}

// modulemdData is the part of a modulemd document's data that dependency
// resolution needs.
type modulemdData struct {
	Name      string `yaml:"name"`
	Stream    string `yaml:"stream"`
	Version   uint64 `yaml:"version"`
	Context   string `yaml:"context"`
	Arch      string `yaml:"arch"`
	Artifacts struct {
		RPMs []string `yaml:"rpms"`
	} `yaml:"artifacts"`
}

// defaultsData is the part of a modulemd-defaults document's data we use.
type defaultsData struct {
	Module string `yaml:"module"`
	Stream string `yaml:"stream"`
}

// add records the index-th document of the stream.
func (m *Modules) add(node *yaml.Node, index int) error {
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind == 0 || node.Tag == "!!null" {
		return nil // an empty document ("---" followed by nothing)
	}
	failf := func(format string, args ...any) error {
		return fmt.Errorf("%w: modules.yaml document %d (line %d): %s", ErrInvalid, index, node.Line, fmt.Sprintf(format, args...))
	}
	var doc yamlDocument
	if err := node.Decode(&doc); err != nil {
		return failf("%v", err)
	}
	switch doc.Document {
	case "modulemd":
		if doc.Version != 1 && doc.Version != 2 {
			return failf("modulemd version %d is not supported (want 1 or 2)", doc.Version)
		}
		var data modulemdData
		if err := doc.Data.Decode(&data); err != nil {
			return failf("%v", err)
		}
		if data.Name == "" || data.Stream == "" {
			return failf("modulemd document without data.name or data.stream")
		}
		for _, a := range data.Artifacts.RPMs {
			if _, _, _, _, _, err := ParseNEVRA(a); err != nil {
				return failf("module %s:%s: artifact: %v", data.Name, data.Stream, err)
			}
		}
		m.Streams = append(m.Streams, ModuleStream{
			Name: data.Name, Stream: data.Stream, Context: data.Context, Arch: data.Arch,
			Version: data.Version, Artifacts: data.Artifacts.RPMs,
		})
	case "modulemd-defaults":
		if doc.Version != 1 {
			return failf("modulemd-defaults version %d is not supported (want 1)", doc.Version)
		}
		var data defaultsData
		if err := doc.Data.Decode(&data); err != nil {
			return failf("%v", err)
		}
		if data.Module == "" {
			return failf("modulemd-defaults document without data.module")
		}
		if data.Stream != "" {
			m.Defaults[data.Module] = data.Stream
		}
	case "":
		return failf("no document: key; is this modules.yaml?")
	}
	return nil
}
