package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/letters/letterstest"
)

// provisionalOnLetter finds the provisional passwords of a letter's text.
var provisionalOnLetter = regexp.MustCompile(`Mot de passe provisoire :\s*([a-hjkmnp-z2-9]{13})\b`)

// TestImportLetters: accounts import --letters prints a letter for each
// account the import creates without a password, read back with
// pdftotext; the password printed starts the activation; it is stored
// nowhere in clear; an existing letters file is never replaced, and a
// second run has nothing left to print.
func TestImportLetters(t *testing.T) {
	letterstest.NeedPDFToText(t)
	dir := t.TempDir()
	env := envFor(map[string]string{"SESAME_DATA_DIR": dir, "SESAME_ADDR": "127.0.0.1:0", "SESAME_CONFIG": "config.example.yaml"})
	csv := filepath.Join(t.TempDir(), "rentree.csv")
	os.WriteFile(csv, []byte("identifier,email,first_name,last_name,population,password,provisional_password\n"+
		"L1,,Zoé,Noël,students,,\nL2,,Chloé,Adam,students,,\nL3,,Léo,Roy,students,,Prov-donne-3\nL4,,Théo,Actif,students,Actif-2024,\n"), 0o600)
	pdf := filepath.Join(t.TempDir(), "letters.pdf")

	// Without --letters, rows without a password are refused, whole.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"accounts", "import", csv}, env, &out); err == nil || !strings.Contains(out.String(), "rentree.csv:2: password and provisional_password are both empty") {
		t.Fatalf("import without --letters: err %v, output %q", err, out.String())
	}

	out.Reset()
	if err := run(context.Background(), []string{"accounts", "import", csv, "--letters", pdf}, env, &out); err != nil {
		t.Fatalf("import --letters: %v\n%s", err, out.String())
	}
	if got := out.String(); !strings.Contains(got, "4 created") || !strings.Contains(got, "2 letter(s) written to "+pdf) {
		t.Errorf("output = %q", got)
	}
	if fi, err := os.Stat(pdf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("letters file: %v, mode %v (want 0600: it holds passwords)", err, fi.Mode())
	}
	text := letterstest.FileText(t, pdf)
	pws := provisionalOnLetter.FindAllStringSubmatch(text, -1)
	if len(pws) != 2 || !strings.Contains(text, "L1") || !strings.Contains(text, "L2") ||
		strings.Contains(text, "L3") || strings.Contains(text, "L4") {
		t.Fatalf("the letters should be L1's and L2's, each with its password; pdftotext reads:\n%s", text)
	}
	// Sorted by name: Adam (L2) before Noël (L1).
	if strings.Index(text, "L2") > strings.Index(text, "L1") {
		t.Error("the letters are not in name order")
	}

	// A second run: nothing waits for a letter, and the first file stays.
	out.Reset()
	if err := run(context.Background(), []string{"accounts", "import", csv, "--letters", pdf}, env, &out); err == nil || !strings.Contains(err.Error(), "nothing was imported") {
		t.Errorf("an existing letters file: err = %v", err)
	}
	again := filepath.Join(t.TempDir(), "again.pdf")
	out.Reset()
	if err := run(context.Background(), []string{"accounts", "import", csv, "--letters", again}, env, &out); err != nil || !strings.Contains(out.String(), "no account waits for a letter") {
		t.Errorf("second run: err %v, output %q", err, out.String())
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		t.Errorf("an empty letters file was left: %v", err)
	}

	// No file of the data directory holds a provisional password in clear.
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, pw := range pws {
			if bytes.Contains(b, []byte(pw[1])) {
				t.Errorf("%s holds a provisional password in clear", path)
			}
		}
		return nil
	})

	// The letter's password starts L1's activation.
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, logs) }()
	defer func() { cancel(); <-done }()
	base := "http://" + listeningAddr(t, logs)
	// pdftotext ends each page with a form feed: L1's password is on L1's page.
	l1 := ""
	for _, page := range strings.Split(text, "\f") {
		if m := provisionalOnLetter.FindStringSubmatch(page); m != nil && strings.Contains(page, "L1") {
			l1 = m[1]
		}
	}
	if l1 == "" {
		t.Fatalf("no page holds L1 with its password:\n%s", text)
	}
	for _, tc := range []struct {
		name, id, pw, want string
	}{
		{"a wrong password", "L1", "abcdefghjkmnp", `data-step="start"`},
		{"the letter's password", "L1", l1, `data-step="rescue"`},
	} {
		if page := activationStart(t, base, tc.id, tc.pw); !strings.Contains(page, tc.want) {
			t.Errorf("%s: the activation's answer lacks %s", tc.name, tc.want)
		}
	}
}

// listeningAddr waits for the server's address in its log.
func listeningAddr(t *testing.T, logs *syncWriter) string {
	t.Helper()
	waitListening(t, logs)
	s := logs.String()
	i := strings.Index(s, "msg=listening addr=")
	return strings.Fields(s[i+len("msg=listening addr="):])[0]
}

// activationStart posts an identifier and a provisional password to the
// activation's first step, as the form does, and returns the page.
func activationStart(t *testing.T, base, id, pw string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/activation")
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	page.ReadFrom(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(page.String())
	if m == nil {
		t.Fatal("no CSRF token on the activation page")
	}
	req, _ := http.NewRequest("POST", base+"/activation/start", strings.NewReader(url.Values{"_csrf": {m[1]}, "identifier": {id}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page.Reset()
	page.ReadFrom(resp.Body)
	return page.String()
}
