package letters_test

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/letters"
	"github.com/sesame-edu/sesame/server/letters/letterstest"
	"github.com/sesame-edu/sesame/server/school"
)

// TestLetterInTheSchoolsWords: a university that calls its letter
// « PASS'UM » prints « Votre PASS'UM », in its name, with the person's
// identifier and the activation address; read back with pdftotext.
func TestLetterInTheSchoolsWords(t *testing.T) {
	letterstest.NeedPDFToText(t)
	sc, err := school.Load("../../examples/universite-montpellier/school.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://pass.umontpellier.example")
	l := desk.Letter{Account: account.Account{Identifier: "c05678", FirstName: "Sonia", LastName: "Haddad", Population: "contract-staff"},
		Password: desk.NewProvisional(), ValidUntil: time.Date(2026, 10, 15, 23, 59, 59, 0, time.UTC)}
	var pdf bytes.Buffer
	if err := (letters.Printer{School: sc, BaseURL: base, Location: time.UTC}).Print(&pdf, cat.For("fr"), []desk.Letter{l}); err != nil {
		t.Fatal(err)
	}
	text := letterstest.Text(t, pdf.Bytes())
	for _, want := range []string{"Votre PASS'UM", "Université de Montpellier", "c05678", "Sonia Haddad", "https://pass.umontpellier.example/activation"} {
		if !strings.Contains(text, want) {
			t.Errorf("the letter lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Sésame") {
		t.Errorf("the PASS'UM letter speaks of Sésame:\n%s", text)
	}
}
