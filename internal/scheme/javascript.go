package scheme

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// Limits of JavaScript manifest evaluation.
const (
	// MaxJSManifestSize bounds the JavaScript source (real manifests are a few KB).
	MaxJSManifestSize = 1 << 20
	// DefaultJSTimeout bounds one evaluation (goja's Interrupt stops it).
	DefaultJSTimeout = 2 * time.Second
	// DefaultJSMaxHeapGrowth stops an evaluation whose Go heap grows by more
	// than this while it runs (best effort: see JSOptions.MaxHeapGrowth).
	DefaultJSMaxHeapGrowth = 256 << 20
)

// JSOptions configure the evaluation of a JavaScript manifest.
type JSOptions struct {
	// Env is the environment object passed to an exported function
	// (tfx extension create --env k=v). Default: {}.
	Env map[string]string
	// Timeout bounds the evaluation. Default DefaultJSTimeout.
	Timeout time.Duration
	// MaxResult bounds the manifest JSON the module produces. Default MaxManifestSize.
	MaxResult int
	// MaxHeapGrowth interrupts the evaluation when the process's Go heap grows
	// by more than this many bytes while it runs. goja has no allocation
	// limit of its own: the check is a watchdog sampling the heap every
	// 10 ms, so a single huge allocation ('x'.repeat(1e9)) happens before it
	// can act. Default DefaultJSMaxHeapGrowth.
	MaxHeapGrowth uint64
}

func (o *JSOptions) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultJSTimeout
	}
	if o.MaxResult <= 0 {
		o.MaxResult = MaxManifestSize
	}
	if o.MaxHeapGrowth == 0 {
		o.MaxHeapGrowth = DefaultJSMaxHeapGrowth
	}
}

// IsJSManifest reports whether path names a JavaScript manifest
// (vss-extension.js, manifest.js, *.cjs).
func IsJSManifest(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".js", ".cjs":
		return true
	}
	return false
}

var (
	errJSTimeout = errors.New("timeout")
	errJSMemory  = errors.New("memory")
)

// EvalManifestJS runs a JavaScript manifest the way tfx extension create
// --manifest-js does — a CommonJS module whose module.exports is the manifest
// object or a function of the environment returning it — and returns the
// manifest as JSON. It runs in a pure-Go ECMAScript engine (goja) with no
// Node API: no file system, no network, no process, no timers, and a
// require that refuses every module; it is stopped after Timeout and when the
// heap grows by MaxHeapGrowth, and the result may not exceed MaxResult bytes.
func EvalManifestJS(src []byte, source string, o JSOptions) (out []byte, err error) {
	o.defaults()
	fail := func(format string, a ...any) ([]byte, error) {
		return nil, &ManifestError{Source: source, Err: fmt.Errorf(format, a...)}
	}
	if len(src) > MaxJSManifestSize {
		return fail("JavaScript manifest is larger than %d bytes; is this really an extension manifest?", MaxJSManifestSize)
	}
	defer func() {
		if r := recover(); r != nil { // goja panics on host-level failures; never crash patrol
			out, err = fail("evaluating the JavaScript manifest failed: %v", r)
		}
	}()
	vm := goja.New()
	vm.SetMaxCallStackSize(1024)
	module := vm.NewObject()
	exports := vm.NewObject()
	_ = module.Set("exports", exports)
	require := func(call goja.FunctionCall) goja.Value {
		panic(vm.NewGoError(fmt.Errorf("require(%q) is not available: patrol evaluates JavaScript manifests sandboxed (no modules, file system or network); inline what the module provides", call.Argument(0).String())))
	}
	// One line, so error line numbers match the file.
	wrapped := "(function (module, exports, require, __filename, __dirname) {" + string(src) + "\n})"
	prg, cerr := goja.Compile(source, wrapped, false)
	if cerr != nil {
		msg := cerr.Error()
		if strings.Contains(string(src), "export ") || strings.Contains(string(src), "import ") {
			msg += " (ES modules are not supported: tfx loads a CommonJS module, so write module.exports = …)"
		}
		return fail("JavaScript syntax error: %s", msg)
	}

	stop := make(chan struct{})
	defer close(stop)
	timer := time.AfterFunc(o.Timeout, func() { vm.Interrupt(errJSTimeout) })
	defer timer.Stop()
	go watchHeap(vm, o.MaxHeapGrowth, stop)

	res, rerr := func() (goja.Value, error) {
		f, err := vm.RunProgram(prg)
		if err != nil {
			return nil, err
		}
		fn, _ := goja.AssertFunction(f)
		if _, err := fn(goja.Undefined(), module, exports, vm.ToValue(require), vm.ToValue(filepath.Base(source)), vm.ToValue(".")); err != nil {
			return nil, err
		}
		v := module.Get("exports")
		if call, ok := goja.AssertFunction(v); ok {
			env := vm.NewObject()
			for k, val := range o.Env {
				_ = env.Set(k, val)
			}
			if v, err = call(goja.Undefined(), env); err != nil {
				return nil, err
			}
		}
		if p, ok := v.Export().(*goja.Promise); ok {
			if p.State() != goja.PromiseStateFulfilled {
				return nil, errors.New("the exported function returned a Promise that did not resolve synchronously; return the manifest object")
			}
			v = p.Result()
		}
		if _, isObj := v.(*goja.Object); !isObj || isArray(vm, v) {
			return nil, errors.New("module.exports must export the manifest object or a function returning it")
		}
		stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
		return stringify(goja.Undefined(), v)
	}()
	if rerr != nil {
		var ie *goja.InterruptedError
		if errors.As(rerr, &ie) {
			switch ie.Value() {
			case errJSTimeout:
				return fail("the JavaScript manifest did not finish within %s (an endless loop?); a manifest must only build an object", o.Timeout)
			case errJSMemory:
				return fail("the JavaScript manifest allocated more than %d MiB; a manifest must only build a small object", o.MaxHeapGrowth>>20)
			}
		}
		var se *goja.StackOverflowError
		if errors.As(rerr, &se) {
			return fail("the JavaScript manifest overflowed the call stack (endless recursion?): %v", rerr)
		}
		return fail("evaluating the JavaScript manifest: %v", rerr)
	}
	s := res.String()
	if len(s) > o.MaxResult {
		return fail("the JavaScript manifest produced %d bytes of JSON, more than the %d bytes allowed", len(s), o.MaxResult)
	}
	return []byte(s), nil
}

func isArray(vm *goja.Runtime, v goja.Value) bool {
	isArr, _ := goja.AssertFunction(vm.Get("Array").ToObject(vm).Get("isArray"))
	r, err := isArr(goja.Undefined(), v)
	return err == nil && r.ToBoolean()
}

// watchHeap interrupts vm when the Go heap grows by more than limit bytes.
func watchHeap(vm *goja.Runtime, limit uint64, stop <-chan struct{}) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > limit {
				vm.Interrupt(errJSMemory)
				return
			}
		}
	}
}

// LoadManifestJS evaluates a JavaScript manifest (EvalManifestJS) and loads
// the resulting JSON like LoadManifest.
func LoadManifestJS(src []byte, source string, o JSOptions) ([]EndpointType, error) {
	data, err := EvalManifestJS(src, source, o)
	if err != nil {
		return nil, err
	}
	return LoadManifest(data, source)
}
