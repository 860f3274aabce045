package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// burst sends every form at once, each from its own browser with its own
// cookies and form token, and returns the answers' statuses in order. The
// tokens are fetched first, so that the posts themselves leave together.
func (a *testApp) burst(path, tokenPage string, forms []url.Values) []int {
	a.t.Helper()
	reqs := make([]*http.Request, len(forms))
	for i, f := range forms {
		b := a.browser()
		f.Set(csrfField, b.csrfToken(tokenPage))
		reqs[i] = b.formRequest(path, f)
	}
	statuses, _ := a.sendAtOnce(reqs)
	return statuses
}

// formRequest is a form post from this browser: its address and cookies.
func (a *testApp) formRequest(path string, f url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a.setIP(req)
	for k, v := range a.jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	return req
}

// sendAtOnce sends every request together (they wait at a barrier) and
// returns the statuses and bodies in order.
func (a *testApp) sendAtOnce(reqs []*http.Request) ([]int, []string) {
	a.t.Helper()
	statuses, bodies := make([]int, len(reqs)), make([]string, len(reqs))
	errs := make([]error, len(reqs))
	storetest.Race(len(reqs), func(i int) {
		resp, err := a.app.Test(reqs[i], -1)
		if err != nil {
			errs[i] = err
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses[i], bodies[i] = resp.StatusCode, string(b)
	})
	for _, err := range errs {
		if err != nil {
			a.t.Fatal(err)
		}
	}
	return statuses, bodies
}

// Security issue, point 1: a failure is reserved before the password is
// checked, so guesses sent at once cannot all be evaluated. Evaluated
// guesses are those not answered 429.
func TestConcurrentGuessesAreCountedBeforeTheCheck(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	const free = 5 // the test wiring's per-account throttle, as in production

	t.Run("sign-in, 40 wrong and the right one", func(t *testing.T) {
		var forms []url.Values
		for i := range 40 {
			forms = append(forms, url.Values{"identifier": {"P003"}, "password": {"wrong-" + itoa(i%10) + "-guess"}})
		}
		forms = append(forms, url.Values{"identifier": {"P003"}, "password": {annePassword}})
		evaluated, signedIn := 0, 0
		statuses := a.burst(paths.Login, "/", forms)
		for _, st := range statuses {
			if st != http.StatusTooManyRequests {
				evaluated++
			}
			if st == http.StatusSeeOther {
				signedIn++
			}
		}
		// The free attempts, plus at most the one gated attempt that the
		// last free failure may open while the burst is still arriving.
		// When the right password is among the first evaluated, the
		// owner's sign-in starts a new generation of the account's
		// failures (a stranger's guesses no longer keep them out), and the
		// guesses still arriving have that generation's free attempts:
		// seen once in a PostgreSQL run. Counting after the check would
		// let all 41 through either way.
		want := free + 1
		if signedIn > 0 {
			want += free
		}
		if evaluated > want {
			t.Errorf("%d of 41 concurrent guesses evaluated, want at most %d (statuses %v)", evaluated, want, statuses)
		}
		t.Logf("evaluated %d of 41 (signed in: %d)", evaluated, signedIn)
	})

	t.Run("sign-in, 100 wrong from one address on an unknown identifier", func(t *testing.T) {
		var forms []url.Values
		for range 100 {
			forms = append(forms, url.Values{"identifier": {"GHOST9"}, "password": {"wrong-password"}})
		}
		evaluated := 0
		for _, st := range a.burst(paths.Login, "/", forms) {
			if st != http.StatusTooManyRequests {
				evaluated++
			}
		}
		if evaluated > free+1 {
			t.Errorf("%d of 100 concurrent guesses evaluated, want at most %d", evaluated, free+1)
		}
	})

	t.Run("activation, provisional passwords", func(t *testing.T) {
		var forms []url.Values
		for i := range 30 {
			forms = append(forms, url.Values{"identifier": {"S100"}, "password": {"Prov-" + itoa(i%10)}})
		}
		evaluated := 0
		for _, st := range a.burst(paths.ActivationStart, paths.Activation, forms) {
			if st != http.StatusTooManyRequests {
				evaluated++
			}
		}
		if evaluated > free+1 {
			t.Errorf("%d of 30 concurrent provisional passwords evaluated, want at most %d", evaluated, free+1)
		}
	})

	t.Run("one throttle per account for sign-in and activation", func(t *testing.T) {
		// P001 failed nowhere yet; 6 wrong activations throttle its sign-in.
		for i := range 6 {
			a.browser().act(paths.ActivationStart, url.Values{"identifier": {"P001"}, "password": {"wrong-" + itoa(i)}})
		}
		if resp := a.browser().signIn("P001", annePassword); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("sign-in after 6 wrong activations: status %d, want 429", resp.StatusCode)
		}
	})
}

// requestEmailChange asks, from the personal page, for the address to
// become to, and returns the confirmation and cancellation links.
func (a *testApp) requestEmailChange(t *testing.T, to, oldAddress string, nOld int) (confirm, cancel *url.URL) {
	t.Helper()
	form := url.Values{csrfField: {a.csrfToken(paths.Account)}, "email": {to}, "phone": {""}, "current": {annePassword}}
	if resp := a.postForm(paths.Account, form); resp.StatusCode != http.StatusOK {
		t.Fatalf("change to %s: status %d", to, resp.StatusCode)
	}
	m := a.smtp.Wait(to, 1, 5*time.Second)
	confirm, _ = url.Parse(m.Links()[0])
	if oldAddress != "" {
		old := a.smtp.Wait(oldAddress, nOld, 5*time.Second)
		if !strings.Contains(old.Text, to) || !strings.Contains(old.Text, "/account/email/cancel?token=") {
			t.Fatalf("the current address is not told, with a way to cancel:\n%s", old.Text)
		}
		cancel, _ = url.Parse(old.Links()[0])
	}
	return confirm, cancel
}

// submitLink opens a mailed link in a fresh browser and submits its
// button; it returns the page's text.
func (a *testApp) submitLink(t *testing.T, link *url.URL) string {
	t.Helper()
	b := a.browser()
	resp := b.postForm(link.Path, url.Values{csrfField: {b.csrfToken("/")}, "token": {link.Query().Get("token")}})
	return doc(t, resp).Text()
}

// Security issue, point 2: a session alone cannot move the address, and a
// pending move does not survive the owner's password reset.
func TestEmailChangeCannotOutliveTheOwner(t *testing.T) {
	t.Run("a password reset voids the pending link", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		a.signIn("P003", annePassword)
		confirm, _ := a.requestEmailChange(t, "attacker@example.net", "leo.martin@example.fr", 1)
		// The owner recovers the account from another device.
		owner := a.browser()
		owner.request("parents", "P003")
		code := a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second).Code()
		owner.step(paths.RecoveryCode, url.Values{"code": {code}})
		_, html := owner.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
		if !strings.Contains(html, "Votre mot de passe a été modifié") {
			t.Fatalf("reset: %s", html)
		}
		if text := a.submitLink(t, confirm); !strings.Contains(text, "n'est plus valable") {
			t.Errorf("the link still works after the reset: %s", text)
		}
		if acc := account1(t, a, "p003"); acc.Email != "leo.martin@example.fr" || acc.PendingEmail != "" {
			t.Errorf("address %q pending %q", acc.Email, acc.PendingEmail)
		}
	})

	t.Run("a password change voids the pending link", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		a.signIn("P003", annePassword)
		confirm, _ := a.requestEmailChange(t, "attacker@example.net", "leo.martin@example.fr", 1)
		resp := a.postForm(paths.AccountPassword, url.Values{csrfField: {a.csrfToken(paths.Account)}, "current": {annePassword}, "password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("password change: %d", resp.StatusCode)
		}
		if text := a.submitLink(t, confirm); !strings.Contains(text, "n'est plus valable") {
			t.Errorf("the link still works after a password change")
		}
	})

	t.Run("a newer request voids the older link", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		a.signIn("P003", annePassword)
		first, _ := a.requestEmailChange(t, "first@example.net", "leo.martin@example.fr", 1)
		second, _ := a.requestEmailChange(t, "second@example.net", "leo.martin@example.fr", 2)
		if text := a.submitLink(t, first); !strings.Contains(text, "n'est plus valable") {
			t.Error("the older link still works")
		}
		if text := a.submitLink(t, second); !strings.Contains(text, "est désormais l'adresse de votre compte") {
			t.Errorf("the newer link: %s", text)
		}
		if acc := account1(t, a, "p003"); acc.Email != "second@example.net" {
			t.Errorf("address = %q", acc.Email)
		}
	})

	t.Run("the old address cancels", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		a.signIn("P003", annePassword)
		confirm, cancel := a.requestEmailChange(t, "attacker@example.net", "leo.martin@example.fr", 1)
		// Opening the cancel link changes nothing (mail scanners).
		if d := doc(t, a.browser().get(cancel.RequestURI())); d.Find(`form[action="/account/email/cancel"] button`).Length() != 1 {
			t.Fatal("the cancel link's page has no button")
		}
		if acc := account1(t, a, "p003"); acc.PendingEmail == "" {
			t.Fatal("opening the cancel link cancelled")
		}
		if text := a.submitLink(t, cancel); !strings.Contains(text, "est annulé") {
			t.Fatalf("cancel: %s", text)
		}
		if text := a.submitLink(t, confirm); !strings.Contains(text, "n'est plus valable") {
			t.Error("the confirmation link works after a cancellation")
		}
		if acc := account1(t, a, "p003"); acc.Email != "leo.martin@example.fr" || acc.PendingEmail != "" {
			t.Errorf("address %q pending %q", acc.Email, acc.PendingEmail)
		}
	})
}

// Security issue, point 3: every account write changes only its own
// fields, so a write from a copy read earlier never undoes a newer one.
func TestAccountWritesNeverUndoNewerOnes(t *testing.T) {
	ctx := context.Background()
	t.Run("profile save vs reset", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		hasher := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
		for i := range 5 {
			// The profile request read the account before the reset landed.
			stale := account1(t, a, "p003")
			newPassword := "Nouveau mot de passe " + itoa(i)
			h, _ := hasher.Hash(newPassword)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if err := a.st.Accounts().SetPassword(ctx, "p003", h, time.Now()); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				p := a.profile()
				if _, _, err := p.Update(ctx, stale, account.Changes{Phone: "06 12 34 56 7" + itoa(i), Email: stale.Email}, "fr", "203.0.113.7"); err != nil {
					t.Error(err)
				}
			}()
			wg.Wait()
			acc := account1(t, a, "p003")
			if !passwordOK(t, a, "p003", newPassword) {
				t.Fatalf("try %d: the profile save undid the reset", i)
			}
			if acc.Phone != "+3361234567"+itoa(i) {
				t.Errorf("try %d: phone = %q", i, acc.Phone)
			}
		}
	})

	t.Run("two profile saves keep both fields", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		stale := account1(t, a, "p003")
		p := a.profile()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, _ = p.Update(ctx, stale, account.Changes{Phone: "0612345678", Email: stale.Email}, "fr", "ip")
		}()
		go func() {
			defer wg.Done()
			_, _, _ = p.Update(ctx, stale, account.Changes{Newsletter: true, Email: stale.Email}, "fr", "ip")
		}()
		wg.Wait()
		// Each save names only what it changed; the second one's copy had
		// no phone, but it did not write the phone.
		acc := account1(t, a, "p003")
		if acc.Phone != "+33612345678" || !acc.Newsletter {
			t.Errorf("phone %q newsletter %v: one save undid the other", acc.Phone, acc.Newsletter)
		}
	})

	t.Run("import vs activation", func(t *testing.T) {
		a := newTestApp(t)
		a.seed()
		hasher := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
		im := account.NewImporter(a.st.Accounts(), hasher, 1, time.Now)
		rows, bad, err := account.ParseCSV(strings.NewReader("identifier;email;first_name;last_name;population;password;provisional_password\nS100;eric.noel@example.fr;Éric;Noël;staff;;Nouveau-prov-1\n"), func(string) bool { return true })
		if err != nil || len(bad) > 0 {
			t.Fatal(err, bad)
		}
		// The person activates (their own password) between the import's
		// read and its write: the import's conditional write loses.
		chosen, _ := hasher.Hash("Mon mot de passe choisi")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = a.st.Accounts().SetPassword(ctx, "s100", chosen, time.Now()) }()
		go func() { defer wg.Done(); _, _ = im.Import(ctx, rows) }()
		wg.Wait()
		// Whatever the order, a password the person set stays.
		acc := account1(t, a, "s100")
		if acc.PasswordSetBy == account.SetByUser && !passwordOK(t, a, "s100", "Mon mot de passe choisi") {
			t.Error("the import replaced a password the person had just chosen")
		}
		// And once it is theirs, a re-import leaves it alone.
		if _, err := im.Import(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if !passwordOK(t, a, "s100", "Mon mot de passe choisi") {
			t.Error("a re-import replaced the person's password")
		}
	})
}

// burstSame sends every form at once from this one browser (its cookies,
// its form token): a double tap, or two tabs.
func (a *testApp) burstSame(path string, forms []url.Values) ([]int, []string) {
	a.t.Helper()
	token := a.csrfToken("/")
	reqs := make([]*http.Request, len(forms))
	for i, f := range forms {
		f.Set(csrfField, token)
		reqs[i] = a.formRequest(path, f)
	}
	return a.sendAtOnce(reqs)
}

// toStep3 walks P003's recovery to step 3 in this browser.
func (a *testApp) toStep3(t *testing.T, nth int) {
	t.Helper()
	a.request("parents", "P003")
	code := a.smtp.Wait("leo.martin@example.fr", nth, 5*time.Second).Code()
	if _, html := a.step(paths.RecoveryCode, url.Values{"code": {code}}); !strings.Contains(html, `data-step="password"`) {
		t.Fatalf("code refused: %s", html)
	}
}

// Security issue, point 14: a lost race is an expected outcome with its own
// words, never a 500.
func TestLostRacesAreNotErrors(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.toStep3(t, 1)
	var forms []url.Values
	for range 10 {
		forms = append(forms, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
	}
	statuses, bodies := a.burstSame(paths.RecoveryPassword, forms)
	done := 0
	for i, st := range statuses {
		if st >= 500 {
			t.Errorf("concurrent step 3: status %d", st)
		}
		// The winner is redirected to the page saying it is done
		// (POST/Redirect/GET); the others are told in place.
		if st == http.StatusSeeOther {
			done++
		} else if !strings.Contains(bodies[i], "vient d&#39;être modifié") && !strings.Contains(bodies[i], "expiré ou est déjà terminée") {
			t.Errorf("a lost step 3 says: %.300s", bodies[i])
		}
	}
	if done != 1 {
		t.Errorf("%d of 10 concurrent step 3 submits set the password, want 1", done)
	}

	b := a.browser()
	b.request("parents", "P001")
	a.smtp.Wait(anneMail, 1, 5*time.Second)
	b.advance(61 * time.Second)
	forms = nil
	for range 10 {
		forms = append(forms, url.Values{})
	}
	statuses, _ = b.burstSame(paths.RecoveryResend, forms)
	for _, st := range statuses {
		if st >= 500 {
			t.Errorf("concurrent resend: status %d", st)
		}
	}
}

// Security issue, point 9: a stranger's guesses do not keep the owner out.
func TestStrangerCannotKeepTheOwnerOut(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	stranger := a.browser()
	stranger.ip = "198.51.100.9"
	var forms []url.Values
	for range 12 {
		forms = append(forms, url.Values{"identifier": {"P003"}, "password": {"wrong-password"}})
	}
	stranger.burst(paths.Login, "/", forms)
	for range 3 {
		stranger.signIn("P003", "wrong-password")
	}
	if resp := stranger.signIn("P003", annePassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the stranger's source is not throttled: %d", resp.StatusCode)
	}
	// The owner, from home, signs in at once.
	if resp := a.browser().signIn("P003", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the owner is kept out by a stranger's guesses: status %d", resp.StatusCode)
	}
}

// Security issue, point 11: one budget of codes per account, whatever was
// typed (identifier or address) and whichever mail (code or reminder).
func TestRecoveryOneBudgetPerAccount(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	for i := range 5 {
		a.browser().request("parents", "P003")
		a.smtp.Wait("leo.martin@example.fr", i+1, 5*time.Second)
	}
	for range 3 {
		a.browser().request("parents", "leo.martin@example.fr")
	}
	a.browser().step(paths.RecoveryRequest, url.Values{"kind": {"identifier"}, "population": {"parents"}, "input": {"leo.martin@example.fr"}, "consent": {"yes"}})
	// Give the dispatcher time to (not) mail: it has mailed the five in
	// well under this.
	time.Sleep(time.Second)
	if n := a.smtp.Count("leo.martin@example.fr"); n != 5 {
		t.Errorf("%d mails to one account within the hour, want 5 (its budget)", n)
	}
}

// Security issue, point 12: a password is the same password however its
// accents were typed.
func TestPasswordsAreNormalisedEverywhere(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.toStep3(t, 1)
	decomposed := "Le the\u0301 de l'e\u0301te\u0301 2024"
	composed := "Le thé de l'été 2024"
	if _, html := a.step(paths.RecoveryPassword, url.Values{"password": {decomposed}, "confirm": {decomposed}}); !strings.Contains(html, "Votre mot de passe a été modifié") {
		t.Fatalf("reset: %s", html)
	}
	for _, pw := range []string{composed, decomposed} {
		if resp := a.browser().signIn("P003", pw); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("sign-in with %q: status %d", pw, resp.StatusCode)
		}
	}
}

// Security issue, point 10: confirmation links are not a way to mail any
// address without end.
func TestConfirmationMailsHaveABudget(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.signIn("P003", annePassword)
	for i := range 7 {
		to := "new" + itoa(i) + "@example.net"
		resp := a.postForm(paths.Account, url.Values{csrfField: {a.csrfToken(paths.Account)}, "email": {to}, "phone": {""}, "current": {annePassword}})
		d := doc(t, resp)
		switch {
		case i < 5 && resp.StatusCode != http.StatusOK:
			t.Fatalf("change %d refused: %d", i, resp.StatusCode)
		case i >= 5 && (resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(d.Find("#pf-email-error").Text(), "Trop de liens")):
			t.Fatalf("change %d: status %d, error %q", i, resp.StatusCode, d.Find("#pf-email-error").Text())
		}
	}
	time.Sleep(500 * time.Millisecond)
	sent := 0
	for i := range 7 {
		sent += a.smtp.Count("new" + itoa(i) + "@example.net")
	}
	if sent != 5 {
		t.Errorf("%d confirmation links mailed, want 5", sent)
	}
}

// Security issue, point 15: behind HTTPS, every cookie that holds a secret
// carries the __Host- prefix (no sub-domain can plant or widen it).
func TestCookiesBehindHTTPSAreHostPrefixed(t *testing.T) {
	a := newTestApp(t, func(o *app.Options) { o.BaseURL, _ = url.Parse("https://sesame.test") })
	a.seed()
	a.request("parents", "P003")
	a.browser().act(paths.ActivationStart, url.Values{"identifier": {"S100"}, "password": {annePassword}})
	a.signIn("P001", annePassword)
	var names []string
	for name := range a.jar {
		names = append(names, name)
	}
	for _, want := range []string{"__Host-sesame_recovery", "__Host-sesame_session", "__Host-sesame_csrf"} {
		if _, ok := a.jar[want]; !ok {
			t.Errorf("no %s cookie; cookies: %v", want, names)
		}
	}
	b := a.browser()
	b.act(paths.ActivationStart, url.Values{"identifier": {"S100"}, "password": {annePassword}})
	if _, ok := b.jar["__Host-sesame_activation"]; !ok {
		t.Errorf("activation cookie not prefixed: %v", b.jar)
	}
	for name := range a.jar {
		if !strings.HasPrefix(name, "__Host-") && name != "sesame_lang" {
			t.Errorf("cookie %s has no __Host- prefix", name)
		}
	}
}
