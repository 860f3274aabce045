package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestRecoveryTwoDevices: the mail's link opened on a phone must not kill
// the request on the computer that asked; whichever finishes, the other
// says so plainly, and « Renvoyer le code » works from either while the
// request lives (issue 16, item 4).
func TestRecoveryTwoDevices(t *testing.T) {
	a := newTestApp(t)
	a.seed()

	t.Run("the phone finishes", func(t *testing.T) {
		computer := a.browser()
		computer.request("parents", "P003")
		m := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
		link, _ := url.Parse(m.Links()[0])
		phone := a.browser()
		phone.get(link.RequestURI())
		flow := link.Query().Get("flow")

		// Resend from the phone (no cookie, the flow's id in the form),
		// after the cooldown: a new code comes, by mail as always.
		a.advance(61 * time.Second)
		_, html := phone.step(paths.RecoveryResend, url.Values{"flow": {flow}})
		if !strings.Contains(html, "Un nouveau code vous a été envoyé") {
			t.Fatalf("resend from the phone: %s", html)
		}
		code := a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second).Code()

		_, html = phone.step(paths.RecoveryCode, url.Values{"flow": {flow}, "code": {code}})
		if !strings.Contains(html, `data-step="password"`) {
			t.Fatalf("code on the phone: %s", html)
		}
		// The computer types the same code: it is told where to finish,
		// not that the request expired.
		_, html = computer.step(paths.RecoveryCode, url.Values{"code": {code}})
		if !strings.Contains(html, "validé sur un autre appareil") {
			t.Errorf("the computer after the phone typed the code: %s", html)
		}
		// Nor can it choose the password.
		_, html = computer.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
		if !strings.Contains(html, "validé sur un autre appareil") || passwordOK(t, a, "p003", "Trois chats sur le toit 42") {
			t.Errorf("step 3 on the computer: %s", html)
		}
		_, html = phone.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
		if !strings.Contains(html, "Votre mot de passe a été modifié") {
			t.Fatalf("step 3 on the phone: %s", html)
		}
		// The computer, reloading, is told plainly.
		d := doc(t, computer.get(paths.Recovery))
		if txt := d.Find("#recovery-step").Text(); !strings.Contains(txt, "Mot de passe déjà modifié sur un autre appareil") {
			t.Errorf("the computer after the phone finished: %s", txt)
		}
	})

	t.Run("the computer finishes", func(t *testing.T) {
		computer := a.browser()
		computer.request("parents", "P001")
		m := a.smtp.Wait(anneMail, 1, 5*time.Second)
		link, _ := url.Parse(m.Links()[0])
		phone := a.browser()
		phone.get(link.RequestURI())
		_, html := computer.step(paths.RecoveryCode, url.Values{"code": {m.Code()}})
		if !strings.Contains(html, `data-step="password"`) {
			t.Fatalf("code on the computer: %s", html)
		}
		computer.step(paths.RecoveryPassword, url.Values{"account": {"p001"}, "password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
		if !passwordOK(t, a, "p001", "Trois chats sur le toit 42") {
			t.Fatal("the computer did not change the password")
		}
		// The phone, with its link, types the code.
		_, html = phone.step(paths.RecoveryCode, url.Values{"flow": {link.Query().Get("flow")}, "code": {m.Code()}})
		if !strings.Contains(html, "Mot de passe déjà modifié sur un autre appareil") {
			t.Errorf("the phone after the computer finished: %s", html)
		}
	})
}
