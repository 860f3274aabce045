package account

import (
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// e164RE is E.164: a +, a country code not starting with 0, at most 15
// digits in all; Sésame also refuses fewer than 8.
var e164RE = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// FuzzNormalisePhone: an accepted number is E.164, and normalising it
// again gives it back (the profile stores the result and shows it in the
// form, which posts it again).
func FuzzNormalisePhone(f *testing.F) {
	for _, s := range []string{
		"06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678",
		"+32 470 12 34 56", "(0)6 12 34 56 78", "+33 (0)6 12 34 56 78", "0612345678\u00a0",
		"+", "00", "0033", "+330612345678", "+0033612345678", "0012345678901234567",
		"+123456789012345", "+1234567890123456", "06 12 34 56 78 +", "\u00a0+33612345678", "０６１２３４５６７８",
		"06-12-34-56-78\r\n", "", "0\x00612345678",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, ok := NormalisePhone(s)
		if !ok {
			if out != "" {
				t.Fatalf("NormalisePhone(%q) refused but returned %q", s, out)
			}
			return
		}
		if !e164RE.MatchString(out) {
			t.Fatalf("NormalisePhone(%q) = %q, not E.164", s, out)
		}
		again, ok := NormalisePhone(out)
		if !ok || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, out, again, ok)
		}
		// The display form of the account page posts back to the same number.
		if back, ok := NormalisePhone(displayPhoneFR(out)); !ok || back != out {
			t.Fatalf("display form %q of %q normalises to %q, %v", displayPhoneFR(out), out, back, ok)
		}
		// Digits are never invented nor dropped (beyond the national prefix).
		if digits(out) != digits(s) && !strings.HasSuffix(digits(s), strings.TrimPrefix(digits(out), "33")) {
			t.Fatalf("NormalisePhone(%q) = %q changed the digits", s, out)
		}
	})
}

// displayPhoneFR restates web.displayPhone (the web package cannot be
// imported here): a French number in the French way.
func displayPhoneFR(e164 string) string {
	if strings.HasPrefix(e164, "+33") && len(e164) == 12 {
		d := "0" + e164[3:]
		return d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + d[6:8] + " " + d[8:10]
	}
	return e164
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// FuzzValidEmail: an address ValidEmail accepts is one bare address that
// cannot inject a header into a mail nor be read as a list.
func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{
		"famille.durand@example.fr", " Leo.Martin@Example.FR ", "a@b@c.fr", "x@y.fr\r\nBcc: z@w.fr",
		"Anne <a@b.fr>", "a@b.fr, c@d.fr", `"a b"@c.fr`, `"a@b"@c.fr`, "a@[127.0.0.1]", "a@localhost",
		"élève@lycée.fr", "a\u0085b@c.fr", "a\u2028@c.fr", "a@b.fr\x00", "a\xff@b.fr", "(comment)a@b.fr",
		"a@b.fr (comment)", "=?utf-8?q?a?=@b.fr", "a.@b.fr", strings.Repeat("a", 250) + "@b.fr", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidEmail(s) {
			return
		}
		checkEmailShape(t, strings.TrimSpace(s))
		if !IsEmail(s) {
			// The recovery and sign-in forms route on IsEmail: a valid
			// address typed there must be looked up as an address.
			t.Fatalf("ValidEmail(%q) but not IsEmail", s)
		}
		if !ValidEmail(" " + s + "\t") {
			t.Fatalf("ValidEmail(%q) depends on surrounding spaces", s)
		}
	})
}

// checkEmailShape states what every accepted address must look like.
func checkEmailShape(t *testing.T, s string) {
	t.Helper()
	if len(s) > 254 || !utf8.ValidString(s) {
		t.Fatalf("accepted %q: too long or not UTF-8", s)
	}
	if strings.ContainsAny(s, "\r\n \t,;<>\"()\\") {
		t.Fatalf("accepted %q: holds a separator, quote or line break", s)
	}
	// The outbox refuses any recipient with a unicode.IsControl rune
	// (mail.parseRecipient), so an address accepted here must have none,
	// or the mail that follows can never be queued; invisible (format)
	// characters such as U+202E would let an address pass for another.
	for _, r := range s {
		if unicode.IsControl(r) || !unicode.IsPrint(r) {
			t.Fatalf("accepted %q: holds control or invisible character %U", s, r)
		}
	}
	if strings.Count(s, "@") != 1 {
		t.Fatalf("accepted %q: not exactly one @", s)
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		t.Fatalf("accepted %q: empty local part or domain without an inner dot", s)
	}
	// It parses back to itself as one bare address.
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		t.Fatalf("accepted %q: parses as %+v, %v", s, a, err)
	}
	if l, err := mail.ParseAddressList(s); err != nil || len(l) != 1 {
		t.Fatalf("accepted %q: read as a list of %d (%v)", s, len(l), err)
	}
}
