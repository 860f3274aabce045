package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/letters/letterstest"
	"github.com/sesame-edu/sesame/server/paths"
)

// postFile sends a file as the import form does (multipart).
func (a *testApp) postFile(path, name string, data []byte) *http.Response {
	a.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", a.csrfToken(paths.DeskImport))
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return a.do(req)
}

// TestDeskImport walks the admins' import: a file with bad rows is refused
// whole, every bad row told with its line and reason; a good file is
// checked, confirmed, counted; the letters of its pending accounts come
// as one PDF, a page each. Help desk agents have no import.
func TestDeskImport(t *testing.T) {
	letterstest.NeedPDFToText(t)
	a := newTestApp(t)
	a.seedDesk()
	exists := func(id string) bool {
		_, err := a.st.Accounts().GetAccount(context.Background(), id)
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	agent := a.browser()
	agent.signIn("S210", annePassword)
	if resp := agent.get(paths.DeskImport); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a help desk agent: GET %s = %d, want 404", paths.DeskImport, resp.StatusCode)
	}
	if strings.Contains(bodyOf(t, agent.get(paths.Desk), http.StatusOK), `href="`+paths.DeskImport+`"`) {
		t.Error("a help desk agent's console links to the import")
	}

	admin := a.browser()
	if resp := admin.signIn("informatique", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", resp.StatusCode)
	}
	bodyOf(t, admin.get(paths.DeskImport), http.StatusOK)

	bad := "identifier,email,first_name,last_name,population,password,provisional_password\n" +
		"N1,,Zoé,Noël,students,,\nN 2,,Léo,Roy,students,,\nN3,pas-une-adresse,Léa,Roy,students,,\nN4,,Lou,Roy,aliens,,\n"
	body := bodyOf(t, admin.postFile(paths.DeskImport, "bad.csv", []byte(bad)), http.StatusUnprocessableEntity)
	for _, want := range []string{"3 lignes sont à corriger", "Ligne 3 : identifier", "Ligne 4 : email", "Ligne 5 : population"} {
		if !strings.Contains(body, want) {
			t.Errorf("bad file: the page lacks %q", want)
		}
	}
	if exists("n1") {
		t.Error("a file with bad rows imported its good row")
	}

	good := "identifier,email,first_name,last_name,population,password,provisional_password\n" +
		"N1,,Zoé,Noël,students,,\nN2,,Chloé,Adam,students,,\nN3,,Théo,Actif,students,Actif-2024,\nP001,anne.durand@example.fr,Anne,Durand,parents,Ancien-mdp-2024,\n"
	d := doc(t, admin.postFile(paths.DeskImport, "good.csv", []byte(good)))
	if got := d.Find(`[data-testid="desk-import-ready"]`).Text(); !strings.Contains(got, "4 comptes") {
		t.Errorf("checked file: %q", got)
	}
	sealed, _ := d.Find(`input[name="file"]`).Attr("value")
	if exists("n1") || sealed == "" || strings.Contains(sealed, "Actif-2024") {
		t.Fatal("the check imported, or the page carries no sealed file, or the file in clear")
	}
	// The sealed file is bound to the admin: another account cannot use it.
	other := url.Values{"file": {sealed}}
	agent2 := a.browser()
	agent2.signIn("S210", annePassword)
	if resp := agent2.deskPost(paths.DeskImportConfirm, other); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a help desk agent confirming: %d, want 404", resp.StatusCode)
	}
	if resp := admin.deskPost(paths.DeskImportConfirm, url.Values{"file": {sealed[:len(sealed)-4] + "AAAA"}}); resp.StatusCode != http.StatusUnprocessableEntity || exists("n1") {
		t.Errorf("a tampered file: %d", resp.StatusCode)
	}

	d = doc(t, admin.deskPost(paths.DeskImportConfirm, url.Values{"file": {sealed}}))
	if got := d.Find(`[data-testid="desk-import-done"]`).Text(); !strings.Contains(got, "3 créés") || !(strings.Contains(got, "1 mis à jour") || strings.Contains(got, "1 inchangés")) {
		t.Errorf("counts: %q", got)
	}
	if !exists("n1") || !exists("n3") {
		t.Fatal("the confirmed import wrote nothing")
	}
	sealed, _ = d.Find(`form[data-testid="desk-import-letters"] input[name="file"]`).Attr("value")

	// The letters of the import's pending accounts: N1 and N2, by name.
	if resp := admin.deskPost(paths.DeskImportLetters, url.Values{"file": {sealed}, "current": {"wrong"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("letters with a wrong password: %d", resp.StatusCode)
	}
	resp := admin.deskPost(paths.DeskImportLetters, url.Values{"file": {sealed}, "current": {annePassword}})
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("letters: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := letterstest.Text(t, pdf)
	if pages := strings.Count(text, "\f"); pages != 2 {
		t.Errorf("%d pages, want 2 (N1, N2)", pages)
	}
	if !strings.Contains(text, "N1") || !strings.Contains(text, "N2") || strings.Contains(text, "N3") || strings.Contains(text, "P001") ||
		strings.Index(text, "N2") > strings.Index(text, "N1") {
		t.Errorf("the letters should be N2's then N1's:\n%s", text)
	}
	// The printed password opens N1's activation: its hash is the one stored.
	n1, _ := a.st.Accounts().GetAccount(context.Background(), "n1")
	for _, page := range strings.Split(text, "\f") {
		if strings.Contains(page, "N1") {
			if ok, _, err := a.hasher.Verify(n1.PasswordHash, provisionalIn(t, page)); err != nil || !ok {
				t.Errorf("N1's letter does not match its stored hash: %v", err)
			}
		}
	}
}
