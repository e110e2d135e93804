package updates

import (
	"fmt"
	"strings"
)

// ModuleStream is one stream of a module and the packages (NEVRA, as in modules.yaml
// "name-epoch:version-release.arch") it ships.
type ModuleStream struct {
	Name, Stream string
	Artifacts    []string
}

// Modularity describes the module streams the repositories offer and which are active.
type Modularity struct {
	Streams []ModuleStream
	// Defaults maps a module name to its default stream (modulemd-defaults).
	Defaults map[string]string
	// Enabled maps a module name to the stream the image enabled (/etc/dnf/modules.d);
	// an empty stream means the module is disabled there.
	Enabled map[string]string
}

// ActiveStreams returns module name → active stream: the enabled one, else the default.
func (m Modularity) ActiveStreams() map[string]string {
	active := map[string]string{}
	for name, s := range m.Defaults {
		active[name] = s
	}
	for name, s := range m.Enabled {
		if s == "" {
			delete(active, name)
			continue
		}
		active[name] = s
	}
	return active
}

// Hide drops what dnf's modular filtering hides: packages of streams that are not
// active, and non-modular packages sharing a name with a package of an active stream.
func (m Modularity) Hide(cands []Candidate) []Candidate {
	if len(m.Streams) == 0 {
		return cands
	}
	active := m.ActiveStreams()
	modular := map[string]bool{}     // every NEVRA that belongs to some stream
	activeNEVRA := map[string]bool{} // NEVRAs of active streams
	activeNames := map[string]bool{} // names shipped by active streams
	for _, s := range m.Streams {
		on := active[s.Name] == s.Stream
		for _, a := range s.Artifacts {
			if strings.HasSuffix(a, ".src") {
				continue
			}
			modular[a] = true
			if on {
				activeNEVRA[a] = true
				if n := nevraName(a); n != "" {
					activeNames[n] = true
				}
			}
		}
	}
	kept := cands[:0:0]
	for _, c := range cands {
		n := fmt.Sprintf("%s-%d:%s-%s.%s", c.Name, c.EVR.Epoch, c.EVR.Version, c.EVR.Release, c.Arch)
		switch {
		case modular[n]:
			if activeNEVRA[n] {
				kept = append(kept, c)
			}
		case activeNames[c.Name]:
			// masked by an active module stream
		default:
			kept = append(kept, c)
		}
	}
	return kept
}

// nevraName returns the name part of "name-epoch:version-release.arch".
func nevraName(nevra string) string {
	// name ends at the dash before the version (the last-but-one dash).
	i := strings.LastIndexByte(nevra, '-')
	if i <= 0 {
		return ""
	}
	j := strings.LastIndexByte(nevra[:i], '-')
	if j <= 0 {
		return ""
	}
	return nevra[:j]
}
