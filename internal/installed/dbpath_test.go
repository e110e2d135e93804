package installed

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadRPMDBMacroDBPath lays out roots whose macros files set %_dbpath, as images do, and
// requires ReadRPMDB to read the database there, and only there.
func TestReadRPMDBMacroDBPath(t *testing.T) {
	testdata := goRPMDBTestdata(t)
	centos7 := filepath.Join(testdata, "centos7-plain", "Packages") // 144 packages
	fedora := filepath.Join(testdata, "fedora35", "rpmdb.sqlite")   // 138 packages
	const rpmMacros = "%_usr\t\t\t/usr\n%_var\t\t\t/var\n%_dbpath\t\t%{_var}/lib/rpm\n" +
		"%__multiline() \\\n  %_dbpath /not/this \\\n%{nil}\n"
	tests := []struct {
		name    string
		files   map[string]string // path in root -> content, or "@" and a source file
		count   int
		wantErr error
		wantMsg string
	}{
		{
			name: "rpm's macros: the classic path",
			files: map[string]string{
				"usr/lib/rpm/macros":   rpmMacros,
				"var/lib/rpm/Packages": "@" + centos7,
			},
			count: 144,
		},
		{
			name: "macros.d moves it to /usr/lib/sysimage/rpm; a stale /var/lib/rpm is not read",
			files: map[string]string{
				"usr/lib/rpm/macros":                   rpmMacros,
				"usr/lib/rpm/macros.d/macros.rpmdb":    "# moved\n%_dbpath %{_usr}/lib/sysimage/rpm\n",
				"usr/lib/sysimage/rpm/rpmdb.sqlite":    "@" + fedora,
				"var/lib/rpm/Packages":                 "@" + centos7,
				"usr/lib/rpm/macros.d/macros.rpmnew":   "%_dbpath /var/lib/rpm\n",
				"usr/lib/rpm/macros.d/unrelated.notes": "%_dbpath /var/lib/rpm\n",
			},
			count: 138,
		},
		{
			name: "/etc/rpm/macros wins over /usr/lib/rpm, with builtin %{_prefix}",
			files: map[string]string{
				"usr/lib/rpm/macros":             rpmMacros,
				"etc/rpm/macros.dbpath":          "%_dbpath %{_prefix}/local/rpmdb\n",
				"usr/local/rpmdb/Packages":       "@" + centos7,
				"var/lib/rpm/rpmdb.sqlite":       "@" + fedora,
				"usr/lib/sysimage/rpm/rpmdb.sql": "@" + fedora,
			},
			count: 144,
		},
		{
			name: "the macros' dbpath holds no database",
			files: map[string]string{
				"etc/rpm/macros":           "%_dbpath /srv/rpm\n",
				"var/lib/rpm/rpmdb.sqlite": "@" + fedora,
			},
			wantErr: ErrNoRPMDB,
			wantMsg: "/etc/rpm/macros sets %_dbpath to /srv/rpm",
		},
		{
			name:    "a shell expansion is not run",
			files:   map[string]string{"usr/lib/rpm/macros": "%_dbpath %(bash -c 'echo ~/.rpmdb')\n"},
			wantErr: ErrNoRPMDB,
			wantMsg: "/usr/lib/rpm/macros sets %_dbpath to \"%(bash -c 'echo ~/.rpmdb')\", which refit cannot expand",
		},
		{
			// Debian's rpm package ships this macro; roots built with it keep the database
			// at /var/lib/rpm (written with --dbpath), where it is found.
			name: "an expansion refit cannot run: the database is found where rpm keeps it by default",
			files: map[string]string{
				"usr/lib/rpm/macros":       "%_dbpath %(bash -c 'echo ~/.rpmdb')\n",
				"var/lib/rpm/rpmdb.sqlite": "@" + fedora,
			},
			count: 138,
		},
		{
			name:    "an undefined macro",
			files:   map[string]string{"etc/rpm/macros.db": "%_dbpath %{_rpmdbroot}/rpm\n"},
			wantErr: ErrNoRPMDB,
			wantMsg: "macro %_rpmdbroot is not defined",
		},
		{
			name:    "a conditional",
			files:   map[string]string{"etc/rpm/macros.db": "%_dbpath %{?_custom}/var/lib/rpm\n"},
			wantErr: ErrNoRPMDB,
			wantMsg: "unsupported macro syntax",
		},
		{
			name:    "a macro defined by itself",
			files:   map[string]string{"etc/rpm/macros.db": "%_loop %{_loop}x\n%_dbpath %{_loop}\n"},
			wantErr: ErrNoRPMDB,
			wantMsg: "nest too deep",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range tt.files {
				if src, ok := strings.CutPrefix(content, "@"); ok {
					copyFile(t, src, filepath.Join(root, p), 0o644)
				} else {
					copyFileContent(t, filepath.Join(root, p), content)
				}
			}
			before := snapshotTree(t, root)
			pkgs, err := ReadRPMDB(root)
			requireUnchanged(t, before, snapshotTree(t, root))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("ReadRPMDB = %d packages, error %v; want %v saying %q", len(pkgs), err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadRPMDB: %v", err)
			}
			if len(pkgs) != tt.count {
				t.Errorf("got %d packages, want %d", len(pkgs), tt.count)
			}
		})
	}
}
