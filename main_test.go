package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/config"
)

func envFor(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr error
		wantOut string
	}{
		{"version", []string{"version"}, nil, nil, "sesame "},
		{"help", []string{"help"}, nil, nil, "accounts import"},
		{"unknown command", []string{"frobnicate"}, nil, errUsage, ""},
		{"import without file", []string{"accounts", "import"}, nil, errUsage, ""},
		{"bad setting", nil, map[string]string{"SESAME_ADDR": "nope"}, config.ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, envFor(tt.env), &out)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
}

// TestImportSurvivesRestart is the foundation's "done when": a CSV is
// imported, a bad one is refused whole, and a restarted server still has the
// accounts.
func TestImportSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	env := envFor(map[string]string{"SESAME_DATA_DIR": dir, "SESAME_ADDR": "127.0.0.1:0"})
	good := filepath.Join(dir, "good.csv")
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(good, []byte("identifier;email;first_name;last_name;population;password\nP1;a@b.fr;Anne;Durand;parents;pw-one-1\nP2;a@b.fr;Paul;Durand;parents;pw-two-2\n"), 0o600)
	os.WriteFile(bad, []byte("identifier;email;first_name;last_name;population;password\nP3;;Zoé;Roy;parents;x\nP 4;;Léo;Roy;parents;y\n"), 0o600)

	var out bytes.Buffer
	if err := run(context.Background(), []string{"accounts", "import", good}, env, &out); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "2 created, 0 updated, 0 unchanged") {
		t.Errorf("summary = %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"accounts", "import", bad}, env, &out); err == nil {
		t.Fatal("bad file imported")
	}
	if !strings.Contains(out.String(), "bad.csv:3: identifier") {
		t.Errorf("bad-row report = %q", out.String())
	}
	// Every bad row at once, an unknown guardian with the others, in order.
	mixed := filepath.Join(dir, "mixed.csv")
	os.WriteFile(mixed, []byte("identifier;email;first_name;last_name;population;password;guardians\n"+
		"E1;;Lou;Bert;students;pw-three-3;P999\nE 2;;Max;Bert;students;pw-four-4;\nE3;;Léa;Bert;students;pw-five-5;P1\n"), 0o600)
	out.Reset()
	if err := run(context.Background(), []string{"accounts", "import", mixed}, env, &out); err == nil || !strings.Contains(err.Error(), "2 bad row(s)") {
		t.Fatalf("mixed file: err = %v", err)
	}
	if got := out.String(); !strings.Contains(got, "mixed.csv:2: unknown guardian") || !strings.Contains(got, "mixed.csv:3: identifier") ||
		strings.Index(got, "mixed.csv:2:") > strings.Index(got, "mixed.csv:3:") {
		t.Errorf("mixed bad-row report = %q", got)
	}

	// Serve, then stop: the data directory keeps the accounts.
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, logs) }()
	waitListening(t, logs)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}

	out.Reset()
	if err := run(context.Background(), []string{"accounts", "import", good}, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 created, 0 updated, 2 unchanged") {
		t.Errorf("after restart, summary = %q (accounts lost?)", out.String())
	}
}

func waitListening(t *testing.T, logs *syncWriter) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := logs.String()
		if i := strings.Index(s, "msg=listening addr="); i >= 0 {
			addr := strings.Fields(s[i+len("msg=listening addr="):])[0]
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server never listened:\n%s", logs.String())
}

// TestClientSecret checks that the printed hash verifies the printed
// secret, and that two runs never print the same secret.
func TestClientSecret(t *testing.T) {
	secrets := map[string]bool{}
	for range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"clients", "secret"}, envFor(nil), &out); err != nil {
			t.Fatal(err)
		}
		var secret, hash string
		for _, line := range strings.Split(out.String(), "\n") {
			if s, ok := strings.CutPrefix(line, "secret: "); ok {
				secret = s
			}
			if h, ok := strings.CutPrefix(strings.TrimSpace(line), "secret: \""); ok {
				hash = strings.TrimSuffix(h, "\"")
			}
		}
		ok, _, err := account.NewHasher(account.DefaultParams(), 1).Verify(hash, secret)
		if len(secret) < 43 || err != nil || !ok {
			t.Fatalf("secret %q, hash %q: verify = %v, %v\n%s", secret, hash, ok, err, out.String())
		}
		if secrets[secret] {
			t.Fatal("the same secret twice")
		}
		secrets[secret] = true
	}
}
