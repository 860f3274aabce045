package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/config"
)

// exampleWeak lists, for each example in examples/, the populations whose
// password policy is knowingly weaker than the CNIL's recommendation: the
// README's « Examples » section documents these warnings, and no other may
// appear at start.
var exampleWeak = map[string][]string{
	"up-montelimar":             nil,
	"universite-montpellier":    nil,
	"region-nouvelle-aquitaine": nil,
	"lycee-portail-familles":    {"parents", "students"},
	"universite-paul-valery":    {"staff"},
}

// TestExamples loads every school file of examples/ as main does at start,
// checks that it warns about nothing but its documented weak policies, and
// imports its accounts file into a fresh data directory.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("examples/*/school.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(exampleWeak) {
		t.Errorf("examples/ holds %d school files; the test knows %d", len(dirs), len(exampleWeak))
	}
	for _, file := range dirs {
		name := filepath.Base(filepath.Dir(file))
		t.Run(name, func(t *testing.T) {
			weak, ok := exampleWeak[name]
			if !ok {
				t.Fatalf("example %s is not listed in exampleWeak (and in the README)", name)
			}
			dataDir := t.TempDir()
			env := envFor(map[string]string{"SESAME_CONFIG": file, "SESAME_DATA_DIR": dataDir})
			cfg, err := config.Load(env)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			sc, err := loadSchool(cfg, newLogger(cfg, &logs))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			var warned []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if !strings.Contains(line, "level=WARN") {
					continue
				}
				_, rest, found := strings.Cut(line, `weak password policy: population \"`)
				if !found {
					t.Errorf("unexpected warning: %s", line)
					continue
				}
				key, _, _ := strings.Cut(rest, `\"`)
				warned = append(warned, key)
			}
			if !slices.Equal(warned, weak) {
				t.Errorf("weak-policy warnings for %v; documented: %v", warned, weak)
			}
			if !sc.NeedsChooser() {
				t.Error("a single population: the example shows no chooser")
			}

			var out bytes.Buffer
			csv := filepath.Join(filepath.Dir(file), "accounts.csv")
			if _, err := os.Stat(csv); err != nil {
				t.Fatalf("accounts file: %v", err)
			}
			if err := run(context.Background(), []string{"accounts", "import", csv}, env, &out); err != nil {
				t.Fatalf("import %s: %v\n%s", csv, err, out.String())
			}
			t.Log(strings.TrimSpace(out.String()))
			if !strings.Contains(out.String(), " created, 0 updated, 0 unchanged") || strings.HasPrefix(out.String(), "0 created") {
				t.Errorf("import summary = %q", out.String())
			}
		})
	}
}
