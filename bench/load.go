package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what a closed-loop load produced.
type loadResult struct {
	window    time.Duration   // measured window
	latencies []time.Duration // of every request sent and answered inside the window
	errors    int             // non-200 answers and transport errors, warm-up included
	badBodies int             // 200 answers whose body was not the expected one
	ok200     int             // 200 answers, warm-up included
	statuses  map[int]int     // answers by status code, warm-up included (0: transport error)
	cpu       *cpuWindow
}

// load runs conns closed-loop workers against urls (worker w against
// urls[w%len(urls)]: one URL for each node) for warmup+duration; each has
// its own keep-alive connection and POSTs {"n": i}. want, when not nil,
// gives the expected body of the answer to n. pids are the servers whose
// CPU time is counted.
func load(ctx context.Context, o options, urls []string, pids []int, want func(n int64) []byte, perfName string) loadResult {
	return loadDuring(ctx, o, urls, pids, want, perfName, func() { sleep(ctx, o.duration) })
}

// loadDuring is load whose measured window lasts as long as measure runs
// (after the warm-up).
func loadDuring(ctx context.Context, o options, urls []string, pids []int, want func(n int64) []byte, perfName string, measure func()) loadResult {
	var (
		measuring atomic.Bool
		stopping  atomic.Bool
		seq       atomic.Int64
		mu        sync.Mutex
		res       = loadResult{statuses: map[int]int{}}
		wg        sync.WaitGroup
	)
	per := make([][]time.Duration, o.conns)
	for w := range o.conns {
		per[w] = make([]time.Duration, 0, 1<<16)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxConnsPerHost:     1,
				MaxIdleConnsPerHost: 1,
				MaxIdleConns:        1,
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true,
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
			url := urls[w%len(urls)]
			var body bytes.Buffer
			var errs, bad, ok int
			statuses := map[int]int{}
			buf := make([]byte, 0, 256)
			for !stopping.Load() && ctx.Err() == nil {
				n := seq.Add(1)
				body.Reset()
				body.WriteString(`{"n":`)
				body.WriteString(strconv.FormatInt(n, 10))
				body.WriteString(`}`)
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body.Bytes()))
				req.Header.Set("Content-Type", "application/json")
				counted := measuring.Load()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs++
					statuses[0]++
					if ctx.Err() == nil {
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				buf = buf[:0]
				b := bytes.NewBuffer(buf)
				_, rerr := io.Copy(b, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if counted {
					per[w] = append(per[w], d)
				}
				statuses[resp.StatusCode]++
				if rerr != nil || resp.StatusCode != http.StatusOK {
					errs++
					continue
				}
				ok++
				if want != nil && !bytes.Equal(bytes.TrimSpace(b.Bytes()), want(n)) {
					bad++
				}
			}
			mu.Lock()
			res.errors += errs
			res.badBodies += bad
			res.ok200 += ok
			for k, v := range statuses {
				res.statuses[k] += v
			}
			mu.Unlock()
		}()
	}
	sleep(ctx, o.warmup)
	res.cpu = beginCPU(pids)
	waitPerf := perfRecord(o.perfOut, perfName, pids[0], o.duration)
	start := time.Now()
	measuring.Store(true)
	measure()
	measuring.Store(false)
	res.window = time.Since(start)
	res.cpu.end()
	stopping.Store(true)
	wg.Wait()
	waitPerf()
	for _, p := range per {
		res.latencies = append(res.latencies, p...)
	}
	slices.Sort(res.latencies)
	return res
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// fill copies the load figures into r.
func (lr loadResult) fill(r *result, conns int) {
	r.Conns = conns
	r.DurationS = lr.window.Seconds()
	r.Requests = len(lr.latencies)
	r.RunsPerSec = float64(len(lr.latencies)) / lr.window.Seconds()
	r.P50ms = pct(lr.latencies, 0.50)
	r.P90ms = pct(lr.latencies, 0.90)
	r.P99ms = pct(lr.latencies, 0.99)
	if len(lr.latencies) > 0 {
		r.Maxms = ms(lr.latencies[len(lr.latencies)-1])
	}
	r.Errors, r.BadBodies, r.OK200 = lr.errors, lr.badBodies, lr.ok200
	r.Statuses = map[string]int{}
	for k, v := range lr.statuses {
		r.Statuses[strconv.Itoa(k)] = v
	}
	r.ServerCPU, r.BenchCPU, r.MachineBusy = lr.cpu.Server, lr.cpu.Self, lr.cpu.Busy
}

// pct is the nearest-rank percentile of sorted durations, in ms.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
