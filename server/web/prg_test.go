package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestRecoveryPostRedirectGet: without JavaScript, every accepted step
// answers 303 See Other to a GET page (Back then never asks to send the
// form again), and sending step 1 again within the resend delay keeps the
// code already mailed (issue 16, item 3).
func TestRecoveryPostRedirectGet(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	tok := a.csrfToken("/")
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		form.Set(csrfField, tok)
		resp := a.postForm(path, form)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != paths.Recovery {
			t.Fatalf("%s: status %d to %q; want 303 to %s", path, resp.StatusCode, resp.Header.Get("Location"), paths.Recovery)
		}
		return a.follow(resp)
	}
	step1 := url.Values{"kind": {"password"}, "population": {"parents"}, "input": {"P003"}, "consent": {"yes"}}
	d := doc(t, post(paths.RecoveryRequest, step1))
	if d.Find(`#recovery-step[data-step="code"]`).Length() != 1 || !strings.Contains(d.Find(".alert.info").Text(), "un code vous a été envoyé") {
		t.Fatalf("the page after step 1: %s", d.Find("main").Text())
	}
	// Reloading shows the step again, without the notice (said once).
	if d := doc(t, a.get(paths.Recovery)); d.Find(".alert.info").Length() != 0 || d.Find(`[data-step="code"]`).Length() != 1 {
		t.Errorf("reload: notice %q", d.Find(".alert.info").Text())
	}
	code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()

	// Back, then « Envoyer » again: the same request within the resend
	// delay changes nothing and mails nothing.
	a.advance(20 * time.Second)
	post(paths.RecoveryRequest, step1)
	time.Sleep(300 * time.Millisecond)
	if n := a.smtp.Count("leo.martin@example.fr"); n != 1 {
		t.Errorf("%d mails after step 1 was sent again; want 1", n)
	}
	d = doc(t, post(paths.RecoveryCode, url.Values{"code": {code}}))
	if d.Find(`[data-step="password"]`).Length() != 1 {
		t.Fatalf("the first code no longer works after step 1 was sent again: %s", d.Find("#recovery-step").Text())
	}
	d = doc(t, post(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}}))
	if txt := d.Find(`[data-testid="recovery-done"]`).Text(); !strings.Contains(txt, "P003") {
		t.Fatalf("the page after step 3: %q", d.Find("#recovery-step").Text())
	}
	// The summary is said once; the page then starts afresh.
	if d := doc(t, a.get(paths.Recovery)); d.Find(`[data-testid="recovery-done"]`).Length() != 0 {
		t.Error("the done message is shown again on reload")
	}

	// With HTMX, the step comes in the answer itself.
	h := a.browser()
	htok := h.csrfToken("/")
	resp := h.postForm(paths.RecoveryRequest, url.Values{csrfField: {htok}, "kind": {"password"}, "population": {"parents"}, "input": {"P001"}, "consent": {"yes"}}, "HX-Request", "true")
	if resp.StatusCode != http.StatusOK || doc(t, resp).Find(`[data-step="code"]`).Length() != 1 {
		t.Errorf("HTMX step 1: status %d", resp.StatusCode)
	}

	// A flash cookie someone made up is ignored.
	f := a.browser()
	f.jar["sesame_flash"] = "eyJ0IjoiZG9uZSIsImkiOiJQMDAzIn0.forged"
	if d := doc(t, f.get(paths.Recovery)); d.Find(`[data-testid="recovery-done"]`).Length() != 0 {
		t.Error("a forged flash was shown")
	}
}

// TestActivationPostRedirectGet: every accepted step of the wizard, the
// last one and the mailed link's button answer 303 See Other to a GET.
func TestActivationPostRedirectGet(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedStaff()
	tok := a.csrfToken(paths.Activation)
	post := func(path string, form url.Values, to string) *http.Response {
		t.Helper()
		form.Set(csrfField, tok)
		resp := a.postForm(path, form)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != to {
			t.Fatalf("%s: status %d to %q; want 303 to %s", path, resp.StatusCode, resp.Header.Get("Location"), to)
		}
		return a.follow(resp)
	}
	post(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}}, paths.Activation)
	post(paths.ActivationRescue, url.Values{"email": {"mh.dupont@example.org"}}, paths.Activation)
	m := a.smtp.Wait("mh.dupont@example.org", 1, 5*time.Second)
	link, _ := url.Parse(m.Links()[0])
	phone := a.browser()
	ptok := phone.csrfToken(link.RequestURI())
	resp := phone.postForm(paths.ActivationConfirm, url.Values{csrfField: {ptok}, "flow": {link.Query().Get("flow")}, "token": {link.Query().Get("token")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: status %d", resp.StatusCode)
	}
	if txt := doc(t, phone.follow(resp)).Find("main").Text(); !strings.Contains(txt, "mh.dupont@example.org") || !strings.Contains(txt, "est confirmée") {
		t.Errorf("the page after the confirmation: %s", txt)
	}
	post(paths.ActivationCharter, url.Values{"accept": {"yes"}}, paths.Activation)
	post(paths.ActivationDirectory, url.Values{"choice": {"no"}}, paths.Activation)
	post(paths.ActivationRedirect, url.Values{}, paths.Activation)
	d := doc(t, post(paths.ActivationPassword, url.Values{"password": {"Une phrase de passe 2026"}, "confirm": {"Une phrase de passe 2026"}}, paths.Activation))
	if stepNum(d) != "done" || !strings.Contains(d.Find("main").Text(), "mh.dupont@example.org") {
		t.Fatalf("the page after the last step: step %q: %s", stepNum(d), d.Find("main").Text())
	}
	if d := doc(t, a.get(paths.Activation)); stepNum(d) != "start" {
		t.Errorf("reloading the summary shows step %q; want the start (said once)", stepNum(d))
	}
}
