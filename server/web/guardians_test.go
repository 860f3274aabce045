package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

// seedFamily adds, to seed's school, a student with no address whose two
// guardians are P001 (Anne) and P003 (Léo), a student with an address
// whose guardian is P001, and a student who is not P003's child.
func (a *testApp) seedFamily() {
	a.t.Helper()
	h := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	old := time.Now().Add(-24 * time.Hour)
	for _, acc := range []account.Account{
		{ID: "e600", Identifier: "E600", FirstName: "Lina", LastName: "Durand", Population: "students", Status: account.StatusActive, Guardians: []string{"p001", "p003"}},
		{ID: "e601", Identifier: "E601", Email: "tom.durand@example.fr", FirstName: "Tom", LastName: "Durand", Population: "students", Status: account.StatusActive, Guardians: []string{"p001"}},
		{ID: "e602", Identifier: "E602", FirstName: "Noé", LastName: "Petit", Population: "students", Status: account.StatusActive, Guardians: []string{"p002"}},
	} {
		acc.PasswordHash, _ = h.Hash(annePassword)
		acc.PasswordSetBy, acc.CreatedAt, acc.UpdatedAt = account.SetByImport, old, old
		if err := a.st.Accounts().CreateAccount(context.Background(), acc); err != nil {
			a.t.Fatal(err)
		}
	}
}

const phoneUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"

// A student without an address recovers with the code mailed to their
// guardians (both receive it, one code works, once).
func TestGuardiansRecoveryCode(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedFamily()
	student := a.browser()
	form := url.Values{"kind": {"password"}, "population": {"students"}, "input": {"E600"}, "consent": {"yes"}, csrfField: {student.csrfToken("/")}}
	resp := student.follow(student.postForm(paths.RecoveryRequest, form, "User-Agent", phoneUA))
	d := doc(t, resp)
	if !strings.Contains(d.Text(), "Si un compte correspond, un code vous a été envoyé.") {
		t.Fatalf("step 1 answer: %s", d.Find("#recovery-step").Text())
	}
	m1 := a.smtp.Wait(anneMail, 1, 5*time.Second)
	m2 := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
	for _, m := range []struct {
		to   string
		text string
		code string
	}{{anneMail, m1.Text, m1.Code()}, {"leo.martin@example.fr", m2.Text, m2.Code()}} {
		if m.code == "" || !strings.Contains(m.text, "Lina Durand") || !strings.Contains(m.text, "E600") ||
			!strings.Contains(m.text, "un téléphone") || !strings.Contains(m.text, "Si vous n'êtes pas à l'origine") {
			t.Errorf("guardian mail to %s:\n%s", m.to, m.text)
		}
		if strings.Contains(m.text, "/recovery/code?") {
			t.Errorf("the guardian's mail carries a link: the child must finish on their own device")
		}
	}
	if m1.Code() != m2.Code() {
		t.Errorf("two guardians, two codes (%s, %s): one request has one code", m1.Code(), m2.Code())
	}
	// The student types the code their parent gives them, on their phone.
	_, html := student.step(paths.RecoveryCode, url.Values{"code": {m1.Code()}})
	if !strings.Contains(html, `data-step="password"`) || !strings.Contains(html, `value="E600"`) {
		t.Fatalf("after the guardian's code: %s", html)
	}
	// The students' rules (6 to 15 letters and digits, no accent).
	_, html = student.step(paths.RecoveryPassword, url.Values{"password": {"Chat42Lune"}, "confirm": {"Chat42Lune"}})
	if !strings.Contains(html, "Votre mot de passe a été modifié") {
		t.Fatalf("finish: %s", html)
	}
	if resp := a.browser().signIn("E600", "Chat42Lune"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the student cannot sign in with the new password: %d", resp.StatusCode)
	}
	// The audit names the child, not a guardian (counted before the
	// next request, whose own code is mailed meanwhile).
	if n := countAudit(t, a, "recovery.code_sent", "e600"); n != 1 {
		t.Errorf("%d code_sent audit rows for e600, want 1", n)
	}
	// Single use: the same code again, on another device, does nothing.
	other := a.browser()
	other.request("students", "E600")
	if _, html := other.step(paths.RecoveryCode, url.Values{"code": {m1.Code()}}); strings.Contains(html, `data-step="password"`) {
		t.Error("the used code works a second time")
	}
}

// A student with an address gets the code at their own address, and an
// unknown identifier gets the same page and sends nothing.
func TestGuardiansOnlyWhenNoAddress(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedFamily()
	_, known := a.browser().request("students", "E601")
	a.smtp.Wait("tom.durand@example.fr", 1, 5*time.Second)
	_, unknown := a.browser().request("students", "E699")
	time.Sleep(500 * time.Millisecond)
	if n := a.smtp.Count(anneMail); n != 0 {
		t.Errorf("the guardian got %d mails for a child who has an address", n)
	}
	if normalise(known) != normalise(unknown) {
		t.Errorf("known and unknown identifiers answer differently:\n%s\n---\n%s", known, unknown)
	}
	if n := len(a.smtp.All()); n != 1 {
		t.Errorf("%d mails sent, want 1 (the student's own)", n)
	}
}

// The per-account budget counts once per request, not once per guardian.
func TestGuardiansCountOncePerRequest(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedFamily()
	for i := range 5 {
		a.browser().request("students", "E600")
		a.smtp.Wait(anneMail, i+1, 5*time.Second)
		a.smtp.Wait("leo.martin@example.fr", i+1, 5*time.Second)
	}
	a.browser().request("students", "lina") // the budget is the account's, not the text's
	a.browser().request("students", "E600")
	time.Sleep(time.Second)
	if n := a.smtp.Count(anneMail); n != 5 {
		t.Errorf("guardian 1 got %d codes for one child in an hour, want 5", n)
	}
}

// A guardian sets a child's password from « Mes informations
// personnelles »; the child signs in with it; another parent's child is 404.
func TestGuardianSetsChildPassword(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedFamily()
	// The child is signed in somewhere: that session ends.
	child := a.browser()
	if resp := child.signIn("E601", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("child sign-in: %d", resp.StatusCode)
	}
	a.signIn("P001", annePassword)
	d := doc(t, a.get(paths.Account))
	links := d.Find(`[data-testid="children"] a`)
	if links.Length() != 2 || !strings.Contains(links.Text(), "Lina Durand (E600)") || !strings.Contains(links.Text(), "Tom Durand (E601)") {
		t.Fatalf("« Mes enfants » = %q", links.Text())
	}
	href, _ := links.Eq(1).Attr("href")
	// The guardian's own password comes first; nothing changes without it.
	for _, current := range []string{"", "pas le bon"} {
		resp := a.postForm(href, url.Values{csrfField: {a.csrfToken(href)}, "current": {current}, "password": {"Soleil7Mars"}, "confirm": {"Soleil7Mars"}})
		if resp.StatusCode != http.StatusUnprocessableEntity || doc(t, resp).Find("#cp-current-error").Text() == "" {
			t.Fatalf("current %q: status %d", current, resp.StatusCode)
		}
	}
	// The child's population's rules, all problems at once, names included.
	resp := a.postForm(href, url.Values{csrfField: {a.csrfToken(href)}, "current": {annePassword}, "password": {"tom"}, "confirm": {"autre"}})
	d = doc(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || d.Find("#cp-password-error").Text() == "" || d.Find("#cp-confirm-error").Text() == "" {
		t.Errorf("a weak, mismatched password: status %d, %q / %q", resp.StatusCode, d.Find("#cp-password-error").Text(), d.Find("#cp-confirm-error").Text())
	}
	if !passwordOK(t, a, "e601", annePassword) {
		t.Fatal("a refused form changed the child's password")
	}
	resp = a.postForm(href, url.Values{csrfField: {a.csrfToken(href)}, "current": {annePassword}, "password": {"Soleil7Mars"}, "confirm": {"Soleil7Mars"}})
	if d := doc(t, resp); resp.StatusCode != http.StatusOK || d.Find(`[data-testid="child-password-done"]`).Length() != 1 {
		t.Fatalf("set: status %d %s", resp.StatusCode, d.Find("main").Text())
	}
	if resp := a.browser().signIn("E601", "Soleil7Mars"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the child cannot sign in with the new password: %d", resp.StatusCode)
	}
	if resp := child.get(paths.Account); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the child's old session still works: %d", resp.StatusCode)
	}
	// The child is told at their own address.
	if m := a.smtp.Wait("tom.durand@example.fr", 1, 5*time.Second); !strings.Contains(m.Text, "E601") {
		t.Errorf("notice to the child:\n%s", m.Text)
	}
	// The audit says who reset whom.
	if n := countAuditActor(t, a, "guardian.child_password", "e601", "p001"); n != 1 {
		t.Errorf("%d audit rows of P001 setting E601's password, want 1", n)
	}
	// Another parent's child, or any other account: 404, nothing changes.
	for _, id := range []string{"e602", "p002", "nobody", "..%2Fp002"} {
		path := paths.AccountChildren + id
		if resp := a.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
		resp := a.postForm(path, url.Values{csrfField: {a.csrfToken(paths.Account)}, "current": {annePassword}, "password": {"Soleil7Mars"}, "confirm": {"Soleil7Mars"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	if !passwordOK(t, a, "e602", annePassword) {
		t.Error("another parent's child's password changed")
	}
}

// The forgotten-identifier mail to a guardian lists the identifiers of
// their children who have no address of their own.
func TestGuardiansForgottenIdentifier(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedFamily()
	a.browser().step(paths.RecoveryRequest, url.Values{"kind": {"identifier"}, "population": {"parents"}, "input": {"leo.martin@example.fr"}, "consent": {"yes"}})
	m := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
	if !strings.Contains(m.Text, "P003") || !strings.Contains(m.Text, "E600 (Lina Durand, votre enfant)") {
		t.Errorf("reminder:\n%s", m.Text)
	}
}

// The import takes a guardians column; an unknown guardian is a bad row and
// nothing is imported.
func TestGuardiansImport(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	ctx := context.Background()
	known := func(string) bool { return true }
	im := account.NewImporter(a.st.Accounts(), account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1), 1, time.Now)
	file := "identifier;email;first_name;last_name;population;password;guardians\n" +
		"G900;parent9@example.fr;Jo;Bert;parents;Mot-de-passe-1;\n" +
		"E900;;Lou;Bert;students;Mot-de-passe-2;G900 p003\n" +
		"E901;;Max;Bert;students;Mot-de-passe-3;G999\n"
	rows, bad, err := account.ParseCSV(strings.NewReader(file), known)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	bad, err = im.CheckGuardians(ctx, rows)
	if err != nil || len(bad) != 1 || bad[0].Line != 4 || !strings.Contains(bad[0].Reason, "g999") {
		t.Fatalf("CheckGuardians = %+v, %v; want line 4 refused for g999", bad, err)
	}
	rows = rows[:2]
	if bad, err := im.CheckGuardians(ctx, rows); err != nil || len(bad) != 0 {
		t.Fatal(bad, err)
	}
	if _, err := im.Import(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g900", "p003"} {
		children, err := a.st.Accounts().ChildrenOf(ctx, g)
		if err != nil || len(children) != 1 || children[0].ID != "e900" {
			t.Errorf("ChildrenOf(%s) = %v, %v", g, children, err)
		}
	}
}

func countAudit(t *testing.T, a *testApp, action, accountID string) int {
	t.Helper()
	return countAuditActor(t, a, action, accountID, "")
}

func countAuditActor(t *testing.T, a *testApp, action, accountID, actor string) int {
	t.Helper()
	filter := map[string]any{"action": action, "accountId": accountID}
	if actor != "" {
		filter["actor"], filter["outcome"] = actor, "ok"
	}
	n, err := a.st.DB().Collection("audit").CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// TestGuardiansSharingAnAddress: two guardians with one family mailbox
// receive the child's code once.
func TestGuardiansSharingAnAddress(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	child := account.Account{ID: "e603", Identifier: "E603", FirstName: "Inès", LastName: "Durand", Population: "students",
		Status: account.StatusActive, Guardians: []string{"p001", "p002"}} // both at anneMail
	if err := a.st.Accounts().CreateAccount(context.Background(), child); err != nil {
		t.Fatal(err)
	}
	a.browser().request("students", "E603")
	if m := a.smtp.Wait(anneMail, 1, 5*time.Second); m.Code() == "" || !strings.Contains(m.Text, "Inès Durand") {
		t.Fatalf("the guardians' mail:\n%s", m.Text)
	}
	time.Sleep(500 * time.Millisecond) // a second mail would be queued by now
	if n := a.smtp.Count(anneMail); n != 1 {
		t.Errorf("%d mails to the guardians' one address, want 1", n)
	}
}
