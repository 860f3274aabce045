package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// flashCookie carries what a full-page POST has to say to the GET it
// redirects to (POST/Redirect/GET): without it, the browser's Back button
// asks « Confirmer le nouvel envoi du formulaire » and a second submit of
// step 1 mails a second code. HTMX requests swap a fragment and need none.
const flashCookie = "sesame_flash"

// flash is what the page after a redirect shows once. Its words are keys
// looked up in the catalogs, never text from the cookie; it is signed, so
// that nobody can make a browser show another account's summary.
type flash struct {
	// Notice is a catalog key (recovery.sent_notice, …).
	Notice  string `json:"n,omitempty"`
	Seconds int    `json:"s,omitempty"`
	// Step is the step to show when no flow holds it any more ("done").
	Step       string `json:"t,omitempty"`
	Kind       string `json:"k,omitempty"`
	Population string `json:"p,omitempty"`
	Identifier string `json:"i,omitempty"`
	// Input is what was typed at step 1, back for « Modifier ».
	Input string `json:"in,omitempty"`
	// Account is the activated account whose summary is shown.
	Account string `json:"a,omitempty"`
	// Address is the address a link just confirmed.
	Address string `json:"e,omitempty"`
	// Until is when the flash stops counting (Unix seconds): a copied
	// cookie is worth nothing after a couple of minutes.
	Until int64 `json:"x,omitempty"`
}

// flashLife is how long a flash waits for its GET.
const flashLife = 2 * time.Minute

func (s *Server) flashMAC(payload string) string {
	m := hmac.New(sha256.New, s.flashKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// redirectAfterPost keeps f for the next page and answers 303 See Other to
// the page at target, a local path.
func (s *Server) redirectAfterPost(c *fiber.Ctx, target string, f flash) error {
	if f != (flash{}) {
		f.Until = s.now().Add(flashLife).Unix()
		b, _ := json.Marshal(f) // a struct of strings and ints always encodes
		payload := base64.RawURLEncoding.EncodeToString(b)
		c.Cookie(&fiber.Cookie{Name: s.cookieName(flashCookie), Value: payload + "." + s.flashMAC(payload), Path: "/",
			MaxAge: int(flashLife / time.Second), HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode})
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// takeFlash returns the flash left by the POST before, once.
func (s *Server) takeFlash(c *fiber.Ctx) flash {
	raw := c.Cookies(s.cookieName(flashCookie))
	if raw == "" {
		return flash{}
	}
	s.clearCookie(c, s.cookieName(flashCookie))
	payload, mac, ok := strings.Cut(raw, ".")
	if !ok || len(raw) > 2048 || !hmac.Equal([]byte(mac), []byte(s.flashMAC(payload))) {
		return flash{}
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || s.now().Unix() > f.Until {
		return flash{}
	}
	return f
}
