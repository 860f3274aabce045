package letters_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/letters"
	"github.com/sesame-edu/sesame/server/school"
)

// fakes: the batch's writes cost a few milliseconds against the store;
// the hash and the PDF are what this measures.
type accounts struct{ desk.Accounts }

func (accounts) PatchAccount(context.Context, string, account.Patch, time.Time) error { return nil }

type sessions struct{ account.SessionRevoker }

func (sessions) RevokeAll(context.Context, string) error { return nil }

type activations struct{ desk.Activations }

func (activations) Abandon(context.Context, string) error { return nil }

type counter struct{ n int }

func (c *counter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// BenchmarkBatch500 issues and prints a batch of 500 letters as the
// console does: a provisional password drawn and hashed (argon2id with
// account.ProvisionalParams) for each, then one PDF. It reports letters per second and PDF
// bytes per page.
func BenchmarkBatch500(b *testing.B) {
	sc, err := school.Load("../../config.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		b.Fatal(err)
	}
	base, _ := url.Parse("https://sesame.lycee.example")
	svc := desk.New(desk.Deps{Accounts: accounts{}, Sessions: sessions{}, Activations: activations{},
		Hasher: account.NewHasher(account.ProvisionalParams(), runtime.NumCPU()), ValidDays: 30, Now: time.Now})
	var accs []account.Account
	for i := range 500 {
		accs = append(accs, account.Account{ID: fmt.Sprintf("p%04d", i), Identifier: fmt.Sprintf("P%04d", i),
			FirstName: "Anne-Sophie", LastName: fmt.Sprintf("Durand-Lefèvre %d", i), Population: "parents", Status: account.StatusPending})
	}
	pr := letters.Printer{School: sc, BaseURL: base, Location: time.UTC}
	var bytes int
	for b.Loop() {
		ls, err := svc.IssueAll(context.Background(), accs)
		if err != nil {
			b.Fatal(err)
		}
		c := &counter{}
		if err := pr.Print(c, cat.For("fr"), ls); err != nil {
			b.Fatal(err)
		}
		bytes = c.n
	}
	b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "letters/s")
	b.ReportMetric(float64(bytes)/500, "bytes/page")
	_ = io.Discard
}

// BenchmarkPrint500 is the PDF alone, without the hashes.
func BenchmarkPrint500(b *testing.B) {
	sc, _ := school.Load("../../config.example.yaml")
	cat, _ := i18n.New()
	base, _ := url.Parse("https://sesame.lycee.example")
	var ls []desk.Letter
	for i := range 500 {
		ls = append(ls, desk.Letter{Account: account.Account{Identifier: fmt.Sprintf("P%04d", i), FirstName: "Anne", LastName: "Durand", Population: "parents"},
			Password: desk.NewProvisional(), ValidUntil: time.Now()})
	}
	pr := letters.Printer{School: sc, BaseURL: base, Location: time.UTC}
	for b.Loop() {
		if err := pr.Print(io.Discard, cat.For("fr"), ls); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "letters/s")
}
