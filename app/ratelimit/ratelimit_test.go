package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(cfg Config) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(cfg)
	l.now = c.now
	return l, c
}

func request(addr, token string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/status", nil)
	r.RemoteAddr = addr
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	return r
}

func TestBurstThenRate(t *testing.T) {
	l, c := newTest(Config{Rate: 10, Burst: 5})
	for i := range 5 {
		_, ok := l.Check(request("10.0.0.1:1234", ""))
		require.True(t, ok, "request %d within the burst", i)
	}
	wait, ok := l.Check(request("10.0.0.1:1234", ""))
	require.False(t, ok)
	require.Equal(t, 100*time.Millisecond, wait, "one token refills in 1/rate")
	c.advance(100 * time.Millisecond)
	_, ok = l.Check(request("10.0.0.1:5678", ""))
	require.True(t, ok, "the port does not matter, the refilled token does")
	_, ok = l.Check(request("10.0.0.1:5678", ""))
	require.False(t, ok)
}

func TestAddressesAreIndependent(t *testing.T) {
	l, _ := newTest(Config{Rate: 1, Burst: 1})
	_, ok := l.Check(request("10.0.0.1:1", ""))
	require.True(t, ok)
	_, ok = l.Check(request("10.0.0.1:1", ""))
	require.False(t, ok)
	_, ok = l.Check(request("10.0.0.2:1", ""))
	require.True(t, ok)
}

func TestTokenLimitedAcrossAddresses(t *testing.T) {
	l, _ := newTest(Config{Rate: 1, Burst: 2})
	for i := range 2 {
		_, ok := l.Check(request("10.0.0."+strconv.Itoa(i)+":1", "tok"))
		require.True(t, ok)
	}
	wait, ok := l.Check(request("10.0.0.9:1", "tok"))
	require.False(t, ok, "a token used from many addresses is still limited")
	require.Equal(t, time.Second, wait)
	_, ok = l.Check(request("10.0.0.9:1", "other"))
	require.True(t, ok, "a refused request took nothing from its address's bucket")
}

func TestRefusalTakesNothing(t *testing.T) {
	l, _ := newTest(Config{Rate: 1, Burst: 1})
	_, ok := l.Check(request("10.0.0.1:1", "tok"))
	require.True(t, ok)
	_, ok = l.Check(request("10.0.0.2:1", "tok")) // token bucket empty
	require.False(t, ok)
	_, ok = l.Check(request("10.0.0.2:1", "")) // address bucket untouched by the refusal
	require.True(t, ok)
}

func TestIdleBucketsAreEvicted(t *testing.T) {
	l, c := newTest(Config{Rate: 100, Burst: 100})
	for i := range 1000 {
		l.Check(request("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":1", ""))
	}
	require.Equal(t, 1000, l.Len())
	c.advance(2 * time.Second) // past the refill time of every bucket
	l.Check(request("10.9.9.9:1", ""))
	require.Equal(t, 1, l.Len())
}

func TestMaxBucketsBoundsMemory(t *testing.T) {
	l, _ := newTest(Config{Rate: 1, Burst: 1, MaxBuckets: 100})
	for i := range 10_000 {
		l.Check(request("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":1", ""))
		require.LessOrEqual(t, l.Len(), 100)
	}
}

func TestForwardedFor(t *testing.T) {
	l, _ := newTest(Config{Rate: 1, Burst: 1, ForwardedFor: true})
	r := request("192.168.0.1:1", "")
	r.Header.Add("X-Forwarded-For", "1.1.1.1, 2.2.2.2")
	_, ok := l.Check(r)
	require.True(t, ok)
	r = request("192.168.0.1:1", "")
	r.Header.Add("X-Forwarded-For", "1.1.1.1, 3.3.3.3")
	_, ok = l.Check(r)
	require.True(t, ok, "the last hop (set by our proxy) is the client, not the load balancer's address")
	r = request("192.168.0.1:1", "")
	r.Header.Add("X-Forwarded-For", "9.9.9.9, 2.2.2.2")
	_, ok = l.Check(r)
	require.False(t, ok, "a client cannot escape by forging earlier hops")

	plain, _ := newTest(Config{Rate: 1, Burst: 1})
	_, ok = plain.Check(r)
	require.True(t, ok)
	r.Header.Set("X-Forwarded-For", "8.8.8.8")
	_, ok = plain.Check(r)
	require.False(t, ok, "without ForwardedFor the header is ignored")
}

func TestDisabled(t *testing.T) {
	l := New(Config{})
	require.Nil(t, l)
	for range 1000 {
		_, ok := l.Check(request("10.0.0.1:1", ""))
		require.True(t, ok)
	}
	require.Equal(t, 0, l.Len())
}

func TestDefaultBurstAndRetryAfter(t *testing.T) {
	l := New(Config{Rate: 200})
	require.Equal(t, 400, l.cfg.Burst)
	require.Equal(t, 1, RetryAfterSeconds(5*time.Millisecond))
	require.Equal(t, 2, RetryAfterSeconds(1500*time.Millisecond))
}

func BenchmarkCheck(b *testing.B) {
	l := New(Config{Rate: 1e9})
	r := request("10.0.0.1:1", "0123456789abcdef0123456789abcdef0123456789abcdef")
	for b.Loop() {
		l.Check(r)
	}
}
