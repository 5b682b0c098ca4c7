/*
 * fake_rknnrt.c - a stand-in for Rockchip's librknnrt.so (matmul API only),
 * built by the layoutscope test suite so the ctypes binding can be tested on
 * machines without an NPU.
 *
 * Written from the facts in shared/reference/rknpu2.md (struct offsets, enum
 * values, native index formulas); no Rockchip header or example code is used.
 * See README.md beside this file for the contract and where it deliberately
 * differs from the hardware.
 *
 * Build: cc -std=c99 -Wall -Wextra -O2 -shared -fPIC -DFAKE_RKNN_GEN=232 \
 *            fake_rknnrt.c -o librknnrt.so -lm
 * FAKE_RKNN_GEN selects the runtime generation: 150, 160, 200, 210 or 232.
 */

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_RKNN_GEN
#define FAKE_RKNN_GEN 232
#endif

#if FAKE_RKNN_GEN == 150
#define FAKE_VERSION "1.5.2"
#elif FAKE_RKNN_GEN == 160
#define FAKE_VERSION "1.6.0"
#elif FAKE_RKNN_GEN == 200
#define FAKE_VERSION "2.0.0b0"
#elif FAKE_RKNN_GEN == 210
#define FAKE_VERSION "2.1.0"
#elif FAKE_RKNN_GEN == 232
#define FAKE_VERSION "2.3.2"
#else
#error "FAKE_RKNN_GEN must be 150, 160, 200, 210 or 232"
#endif

#define EXPORT __attribute__((visibility("default")))

/* The binding finds the runtime's version by scanning the file for this
 * prefix, as it does with the real library; "used" keeps it alive at -O2. */
__attribute__((used)) static const char fake_version_string[] =
    "librknnrt version: " FAKE_VERSION " (fake layoutscope test runtime)";

/* ------------------------------------------------------------------------ */
/* ABI: our own declarations, laid out per rknpu2.md section 1.6.            */
/* ------------------------------------------------------------------------ */

/* rknn_context is 32-bit only on 32-bit ARM (rknpu2.md section 1.4). */
#if defined(__arm__)
typedef uint32_t rknn_context;
#else
typedef uint64_t rknn_context;
#endif

#define NAME_LEN 256
#define MAX_DIMS 16

typedef struct {
    void *virt_addr;
    uint64_t phys_addr;
    int32_t fd;
    int32_t offset;
    uint32_t size;
    uint32_t flags;
    void *priv_data;
} rknn_tensor_mem;

typedef struct {
    char name[NAME_LEN];
    uint32_t n_dims;
    uint32_t dims[MAX_DIMS];
    uint32_t size;
    int32_t type; /* rknn_tensor_type: a C enum, 4 bytes */
} rknn_matmul_tensor_attr;

typedef struct {
    rknn_matmul_tensor_attr A, B, C;
} rknn_matmul_io_attr;

/* 1.5 and 1.6 share offsets; only the meaning of `type` and the names differ. */
typedef struct {
    int32_t M, K, N;
    int32_t type;
    int32_t b_layout;  /* 1.5: native_layout */
    int32_t ac_layout; /* 1.5: perf_layout */
} info_v1;

typedef struct {
    int32_t M, K, N;
    int32_t type;
    int16_t b_layout, b_quant_type, ac_layout, ac_quant_type;
    int32_t iommu_domain_id;
    int16_t group_size; /* 2.1+; part of `reserved` in 2.0 */
    int8_t reserved[34];
} info_v2;

#if FAKE_RKNN_GEN >= 200
typedef info_v2 rknn_matmul_info;
#else
typedef info_v1 rknn_matmul_info;
#endif

typedef struct {
    char name[NAME_LEN];
    float *scale;
    int32_t scale_len;
    int32_t *zp;
    int32_t zp_len;
} rknn_quant_params;

/* C99 has no _Static_assert: a negative array size breaks the build instead.
 * Checked on LP64 only, where rknpu2.md gives the sizes. */
#if UINTPTR_MAX == 0xffffffffffffffffu
typedef char check_mem_size[sizeof(rknn_tensor_mem) == 40 ? 1 : -1];
typedef char check_attr_size[sizeof(rknn_matmul_tensor_attr) == 332 ? 1 : -1];
typedef char check_io_size[sizeof(rknn_matmul_io_attr) == 996 ? 1 : -1];
typedef char check_info_v1_size[sizeof(info_v1) == 24 ? 1 : -1];
typedef char check_info_v2_size[sizeof(info_v2) == 64 ? 1 : -1];
typedef char check_quant_size[sizeof(rknn_quant_params) == 288 ? 1 : -1];
typedef char check_group_off[offsetof(info_v2, group_size) == 28 ? 1 : -1];
typedef char check_scale_off[offsetof(rknn_quant_params, scale_len) == 264 ? 1 : -1];
#endif

/* Error codes (rknpu2.md section 1.3). */
enum {
    RKNN_SUCC = 0,
    RKNN_ERR_FAIL = -1,
    RKNN_ERR_PARAM_INVALID = -5,
    RKNN_ERR_CTX_INVALID = -7,
    RKNN_ERR_INPUT_INVALID = -8,
    RKNN_ERR_OUTPUT_INVALID = -9
};

/* rknn_tensor_type values. */
enum { T_FP32 = 0, T_FP16 = 1, T_INT8 = 2, T_INT16 = 4, T_INT32 = 6, T_INT4 = 10 };

enum { SYNC_TO_DEVICE = 1, SYNC_FROM_DEVICE = 2, SYNC_BIDIRECTIONAL = 3 };
enum { Q_PER_LAYER = 0, Q_PER_CHANNEL = 2, Q_PER_GROUP = 4 };
enum { MAT_A = 0, MAT_B = 1, MAT_C = 2 };

/* ------------------------------------------------------------------------ */
/* Logging, call log, failure injection.                                     */
/* ------------------------------------------------------------------------ */

/* The real runtime reports every rejection as an "E RKNN:" line on stderr;
 * the binding shows that line to users, so the fake writes one too. */
static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_error(const char *fmt, ...)
{
    va_list ap;
    fputs("E RKNN: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

#define CALL_LOG_CAP (64 * 1024)
static char call_log[CALL_LOG_CAP + 1];
static size_t call_log_len;

/* Appends one API name; when the log is full the oldest whole lines go, so
 * the tail (what a test just did) is always complete. */
static void log_call(const char *name)
{
    size_t n = strlen(name) + 1;
    if (call_log_len + n > CALL_LOG_CAP) {
        size_t drop = call_log_len + n - CALL_LOG_CAP;
        char *nl = memchr(call_log + drop - 1, '\n', call_log_len - (drop - 1));
        drop = nl ? (size_t)(nl - call_log) + 1 : call_log_len;
        memmove(call_log, call_log + drop, call_log_len - drop);
        call_log_len -= drop;
    }
    memcpy(call_log + call_log_len, name, n - 1);
    call_log_len += n;
    call_log[call_log_len - 1] = '\n';
    call_log[call_log_len] = '\0';
}

#define MAX_FAILS 16
static struct {
    char function[64];
    int code;
} fails[MAX_FAILS];
static int n_fails;

/* Consumes the oldest pending injected failure for `function`, if any. */
static int take_fail(const char *function, int *code)
{
    int i;
    for (i = 0; i < n_fails; i++) {
        if (strcmp(fails[i].function, function) == 0) {
            *code = fails[i].code;
            memmove(&fails[i], &fails[i + 1], (size_t)(n_fails - i - 1) * sizeof fails[0]);
            n_fails--;
            return 1;
        }
    }
    return 0;
}

/* Every API entry point starts with this: log the call, then honour an
 * injected failure before looking at the arguments. */
#define ENTER(name)                                                                                    \
    do {                                                                                               \
        int injected_;                                                                                 \
        log_call(name);                                                                                \
        if (take_fail(name, &injected_)) return injected_;                                             \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Platforms and matmul types.                                               */
/* ------------------------------------------------------------------------ */

/* Input dtype index into the per-platform tables. */
enum { D_INT8 = 0, D_FP16 = 1, D_INT4 = 2, N_DTYPES = 3 };

typedef struct {
    const char *name;
    int a_sub_k[N_DTYPES];    /* A native (K/subK, M, subK); 0 = dtype absent */
    int b_sub_n[N_DTYPES];    /* B native (N/subN, K/subK, subN, subK) */
    int b_sub_k[N_DTYPES];
    int c_sub_n_int16;        /* C native (N/subN, M, subN) for int16 output */
    int c_sub_n_other;        /* ... for int32/fp32 (and, assumed, fp16/int8) */
    int k_align[N_DTYPES];
    int n_align[N_DTYPES];
    int k_max;                /* 0 = none */
    int k_unmodelled;         /* K above this needs segmented B: rejected */
    int n_max[N_DTYPES];
    int max_type_mask;        /* bit t set = matmul type t accepted here */
} platform;

static const platform PLATFORMS[] = {
    {"rk3588", {16, 8, 32}, {32, 16, 64}, {32, 32, 32}, 8, 4, {32, 32, 32}, {32, 16, 64},
     0, 8192, {4096, 4096, 8192}, (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (1 << 10)},
    {"rk3566", {8, 4, 0}, {16, 8, 0}, {32, 16, 0}, 0, 4, {32, 16, 0}, {16, 8, 0},
     10240, 0, {4096, 4096, 0}, (1 << 1) | (1 << 2)},
};

/* Types each generation can create (the "Added in" column of rknpu2.md). */
#if FAKE_RKNN_GEN == 150
#define GEN_TYPE_MASK ((1 << 1) | (1 << 2))
#elif FAKE_RKNN_GEN == 160
#define GEN_TYPE_MASK ((1 << 1) | (1 << 2) | (1 << 10))
#elif FAKE_RKNN_GEN == 200
#define GEN_TYPE_MASK ((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 10))
#else
#define GEN_TYPE_MASK ((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (1 << 10))
#endif

typedef struct {
    int in_dtype;  /* D_* of A and B */
    int in_ttype;  /* rknn_tensor_type of A and B */
    int out_ttype; /* rknn_tensor_type of C */
} mm_type;

static int lookup_type(int type, mm_type *t)
{
    switch (type) {
    case 1: *t = (mm_type){D_FP16, T_FP16, T_FP32}; return 1;
    case 2: *t = (mm_type){D_INT8, T_INT8, T_INT32}; return 1;
    case 3: *t = (mm_type){D_INT8, T_INT8, T_INT8}; return 1;
    case 4: *t = (mm_type){D_FP16, T_FP16, T_FP16}; return 1;
    case 9: *t = (mm_type){D_INT8, T_INT8, T_FP32}; return 1;
    case 10: *t = (mm_type){D_INT4, T_INT4, T_INT16}; return 1;
    default: return 0;
    }
}

static size_t ttype_bits(int ttype)
{
    switch (ttype) {
    case T_INT4: return 4;
    case T_INT8: return 8;
    case T_FP16: case T_INT16: return 16;
    default: return 32; /* FP32, INT32 */
    }
}

/* The platform named by FAKE_RKNN_PLATFORM (default rk3588), read at every
 * create so tests can switch with monkeypatch.setenv. */
static const platform *current_platform(void)
{
    const char *env = getenv("FAKE_RKNN_PLATFORM");
    if (env == NULL || env[0] == '\0' || strcmp(env, "rk3588") == 0) return &PLATFORMS[0];
    if (strcmp(env, "rk3566") == 0 || strcmp(env, "rk3568") == 0) return &PLATFORMS[1];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* State: memories and contexts.                                             */
/* ------------------------------------------------------------------------ */

/* One allocation. `pub` is what the caller sees; `dev` stands for the NPU's
 * view of the same memory and `clean` for the virt contents at the last sync
 * (to tell which bytes the CPU dirtied, for BIDIRECTIONAL). */
typedef struct mem_rec {
    rknn_tensor_mem *pub;
    unsigned char *dev;
    unsigned char *clean;
    rknn_context owner;
    struct mem_rec *next;
} mem_rec;

typedef struct ctx_rec {
    rknn_context handle;
    const platform *plat;
    int type;
    mm_type t;
    int M, K, N;
    int b_native, ac_native;
    int b_quant, group_size;
    rknn_matmul_io_attr io;
    float a_scale, c_scale;
    float *b_scale;
    int b_scale_len;
    mem_rec *bound[3];
    struct ctx_rec *next;
} ctx_rec;

static mem_rec *mems;
static ctx_rec *ctxs;
/* Headers of destroyed mems, kept (zeroed) until reset so malloc cannot hand
 * the same address to a new mem: a double destroy_mem is then always -5
 * instead of freeing someone else's buffer. priv_data chains them. */
static rknn_tensor_mem *graveyard;
static int live_ctx_count, live_mem_count;
static long long live_byte_count;
static int last_core_mask = -1;
static long sync_counts[4];
/* Never reset, so a handle from before fake_rknn_reset stays invalid. */
static uint32_t next_handle_seq = 1;

static rknn_context make_handle(void)
{
    uint32_t seq = next_handle_seq++;
#if defined(__arm__)
    return (rknn_context)(0x52000000u | (seq & 0x00ffffffu));
#else
    /* High bits set on purpose: a binding that passes the context as a C int
     * truncates it and gets RKNN_ERR_CTX_INVALID. */
    return ((rknn_context)0x524B4E4Eu << 32) | seq;
#endif
}

static ctx_rec *find_ctx(rknn_context handle)
{
    ctx_rec *c;
    for (c = ctxs; c; c = c->next)
        if (c->handle == handle) return c;
    return NULL;
}

static mem_rec *find_mem(const rknn_tensor_mem *pub)
{
    mem_rec *m;
    if (pub == NULL) return NULL;
    for (m = mems; m; m = m->next)
        if (m->pub == pub) return m;
    return NULL;
}

static void free_mem_rec(mem_rec *m)
{
    ctx_rec *c;
    int i;
    /* Unbind everywhere so run() never touches freed memory. */
    for (c = ctxs; c; c = c->next)
        for (i = 0; i < 3; i++)
            if (c->bound[i] == m) c->bound[i] = NULL;
    live_mem_count--;
    live_byte_count -= m->pub->size;
    free(m->pub->virt_addr);
    memset(m->pub, 0, sizeof *m->pub);
    m->pub->fd = -1;
    m->pub->priv_data = graveyard;
    graveyard = m->pub;
    free(m->dev);
    free(m->clean);
    free(m);
}

static void free_ctx_rec(ctx_rec *c)
{
    live_ctx_count--;
    free(c->b_scale);
    free(c);
}

static int matrix_of(const char *name)
{
    if (strcmp(name, "A") == 0) return MAT_A;
    if (strcmp(name, "B") == 0) return MAT_B;
    if (strcmp(name, "C") == 0) return MAT_C;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Half precision, written out so the fake needs no compiler extension.      */
/* ------------------------------------------------------------------------ */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or nan with its payload */
    } else if (exp != 0) {
        bits = sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* Subnormal: mant * 2^-24, exact in float. */
        f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest, ties to even, as an IEEE conversion does. */
static uint16_t float_to_half(float f)
{
    uint32_t bits, mant, sign;
    int exp;
    memcpy(&bits, &f, sizeof bits);
    sign = (bits >> 16) & 0x8000u;
    exp = (int)((bits >> 23) & 0xff);
    mant = bits & 0x7fffffu;
    if (exp == 0xff) /* inf stays inf; nan stays a (quiet) nan */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    exp = exp - 127 + 15;
    if (exp >= 0x1f) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
    if (exp <= 0) {
        /* Subnormal half (or zero): shift the implicit-1 significand right. */
        uint32_t full, shift, q, rem, halfway;
        if (exp < -10) return (uint16_t)sign; /* below half the smallest subnormal */
        full = mant | 0x800000u;
        shift = (uint32_t)(14 - exp);
        q = full >> shift;
        rem = full & ((1u << shift) - 1);
        halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return (uint16_t)(sign | q); /* a carry into bit 10 is the right normal */
    }
    {
        uint32_t h = ((uint32_t)exp << 10) | (mant >> 13);
        uint32_t rem = mant & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* carry may reach inf: correct */
        return (uint16_t)(sign | h);
    }
}

/* ------------------------------------------------------------------------ */
/* Layouts.                                                                  */
/* ------------------------------------------------------------------------ */

/* Element index of A[m][k], B[k][n] and C[m][n] in the declared layout
 * (rknpu2.md section 2.1 formulas). */
static size_t a_index(const ctx_rec *c, int m, int k)
{
    size_t sub;
    if (!c->ac_native) return (size_t)m * c->K + k;
    sub = (size_t)c->plat->a_sub_k[c->t.in_dtype];
    return (k / sub) * c->M * sub + (size_t)m * sub + k % sub;
}

static size_t b_index(const ctx_rec *c, int k, int n)
{
    size_t sn, sk;
    if (!c->b_native) return (size_t)k * c->N + n;
    sn = (size_t)c->plat->b_sub_n[c->t.in_dtype];
    sk = (size_t)c->plat->b_sub_k[c->t.in_dtype];
    return (((n / sn) * (c->K / sk) + k / sk) * sn + n % sn) * sk + k % sk;
}

static int c_sub_n(const ctx_rec *c)
{
    return c->t.out_ttype == T_INT16 ? c->plat->c_sub_n_int16 : c->plat->c_sub_n_other;
}

static size_t c_index(const ctx_rec *c, int m, int n)
{
    size_t sub;
    if (!c->ac_native) return (size_t)m * c->N + n;
    sub = (size_t)c_sub_n(c);
    return (n / sub) * c->M * sub + (size_t)m * sub + n % sub;
}

/* Reads element `i` of an input buffer as a number. int4 holds two elements
 * per byte, the even element in the low nibble, in every layout. */
static int get_int(const unsigned char *buf, size_t i, int ttype)
{
    if (ttype == T_INT8) return (int8_t)buf[i];
    {
        int nib = (i & 1) ? buf[i / 2] >> 4 : buf[i / 2] & 0x0f;
        return (nib ^ 8) - 8; /* sign-extend 4 bits */
    }
}

static float get_half(const unsigned char *buf, size_t i)
{
    uint16_t h;
    memcpy(&h, buf + 2 * i, sizeof h);
    return half_to_float(h);
}

/* ------------------------------------------------------------------------ */
/* The API.                                                                  */
/* ------------------------------------------------------------------------ */

static void fill_attr(rknn_matmul_tensor_attr *a, const char *name, int ttype, int n_dims, const int *dims)
{
    size_t elems = 1;
    int i;
    memset(a, 0, sizeof *a);
    strcpy(a->name, name);
    a->n_dims = (uint32_t)n_dims;
    for (i = 0; i < n_dims; i++) {
        a->dims[i] = (uint32_t)dims[i];
        elems *= (size_t)dims[i];
    }
    a->size = (uint32_t)(elems * ttype_bits(ttype) / 8);
    a->type = ttype;
}

/* Validates the info and fills `c`; returns an error code and logs why. */
static int configure(ctx_rec *c, const rknn_matmul_info *info)
{
    const platform *p = c->plat;
    int d, ka, na;
    c->M = info->M;
    c->K = info->K;
    c->N = info->N;
    c->type = info->type;
    c->b_native = info->b_layout;
    c->ac_native = info->ac_layout;
#if FAKE_RKNN_GEN >= 200
    c->b_quant = info->b_quant_type;
#if FAKE_RKNN_GEN >= 210
    c->group_size = info->group_size;
#endif
#endif

    if (c->type < 0 || c->type > 30 || !((GEN_TYPE_MASK & p->max_type_mask) >> c->type & 1) ||
        !lookup_type(c->type, &c->t)) {
        log_error("unsupported matmul dtype in this platform: type=%d (platform %s, runtime %s)", info->type,
                  p->name, FAKE_VERSION);
        return RKNN_ERR_PARAM_INVALID;
    }
    d = c->t.in_dtype;
    if (c->b_native != 0 && c->b_native != 1) {
        log_error("B_layout = %d is not supported (fake: only 0 normal and 1 native are modelled)", c->b_native);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (c->ac_native != 0 && c->ac_native != 1) {
        log_error("AC_layout = %d is not supported (only 0 normal and 1 native)", c->ac_native);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (c->M < 1) {
        log_error("invalid M = %d, M must be >= 1", c->M);
        return RKNN_ERR_PARAM_INVALID;
    }
    ka = p->k_align[d];
    na = p->n_align[d];
    if (c->K < 1 || c->K % ka != 0) {
        log_error("invalid K = %d, K must be positive and a multiple of %d on %s", c->K, ka, p->name);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (c->N < 1 || c->N % na != 0) {
        log_error("invalid N = %d, N must be positive and a multiple of %d on %s", c->N, na, p->name);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (p->k_max && c->K > p->k_max) {
        log_error("invalid K = %d, K must be <= %d on %s", c->K, p->k_max, p->name);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (p->k_unmodelled && c->K > p->k_unmodelled) {
        log_error("fake: K-segmented B (K > %d) is not modelled (K = %d)", p->k_unmodelled, c->K);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (c->N > p->n_max[d]) {
        log_error("invalid N = %d, N must be <= %d for this dtype", c->N, p->n_max[d]);
        return RKNN_ERR_PARAM_INVALID;
    }
#if FAKE_RKNN_GEN >= 200
    if (info->ac_quant_type != 0) {
        log_error("AC_quant_type = %d, A and C only support per layer (0)", info->ac_quant_type);
        return RKNN_ERR_PARAM_INVALID;
    }
#if FAKE_RKNN_GEN == 200
    /* 2.0b0 had no quant-type enum: its comment says 1 means per channel. */
    if (c->b_quant == 1) c->b_quant = Q_PER_CHANNEL;
#endif
    switch (c->b_quant) {
    case Q_PER_LAYER:
        break;
    case Q_PER_CHANNEL:
        if (c->type != 2 && c->type != 3) {
            log_error("B_quant_type = RKNN_QUANT_TYPE_PER_CHANNEL_SYM, only supported matmul dtype : "
                      "RKNN_INT8_MM_INT8_TO_INT8 and RKNN_INT8_MM_INT8_TO_INT32");
            return RKNN_ERR_PARAM_INVALID;
        }
        break;
    case Q_PER_GROUP:
        if (FAKE_RKNN_GEN < 210 || c->type != 9) {
            log_error("B_quant_type = RKNN_QUANT_TYPE_PER_GROUP_SYM is only supported with "
                      "RKNN_INT8_MM_INT8_TO_FLOAT32 (runtime %s)", FAKE_VERSION);
            return RKNN_ERR_PARAM_INVALID;
        }
        if (c->group_size <= 0 || c->K % c->group_size != 0) {
            log_error("invalid group_size = %d for per-group B, it must be > 0 and divide K = %d", c->group_size,
                      c->K);
            return RKNN_ERR_PARAM_INVALID;
        }
        break;
    default:
        log_error("B_quant_type = %d is not supported (fake: symmetric per-layer 0, per-channel 2, "
                  "per-group 4 only)", c->b_quant);
        return RKNN_ERR_PARAM_INVALID;
    }
#endif
    return RKNN_SUCC;
}

static void fill_io(ctx_rec *c)
{
    const platform *p = c->plat;
    int d = c->t.in_dtype, M = c->M, K = c->K, N = c->N;
    int dims[4];
    if (c->ac_native) {
        int sk = p->a_sub_k[d], sn = c_sub_n(c);
        dims[0] = K / sk; dims[1] = M; dims[2] = sk;
        fill_attr(&c->io.A, "A", c->t.in_ttype, 3, dims);
        dims[0] = N / sn; dims[1] = M; dims[2] = sn;
        fill_attr(&c->io.C, "C", c->t.out_ttype, 3, dims);
    } else {
        dims[0] = M; dims[1] = K;
        fill_attr(&c->io.A, "A", c->t.in_ttype, 2, dims);
        dims[0] = M; dims[1] = N;
        fill_attr(&c->io.C, "C", c->t.out_ttype, 2, dims);
    }
    if (c->b_native) {
        int sn = p->b_sub_n[d], sk = p->b_sub_k[d];
        dims[0] = N / sn; dims[1] = K / sk; dims[2] = sn; dims[3] = sk;
        fill_attr(&c->io.B, "B", c->t.in_ttype, 4, dims);
    } else {
        dims[0] = K; dims[1] = N;
        fill_attr(&c->io.B, "B", c->t.in_ttype, 2, dims);
    }
}

EXPORT int rknn_matmul_create(rknn_context *ctx, void *info, rknn_matmul_io_attr *io_attr)
{
    rknn_matmul_info local;
    ctx_rec *c;
    int rc;
    ENTER("rknn_matmul_create");
    if (ctx == NULL || info == NULL || io_attr == NULL) {
        log_error("rknn_matmul_create: ctx, info and io_attr must not be NULL");
        return RKNN_ERR_PARAM_INVALID;
    }
    *ctx = 0;
    /* Read exactly this generation's struct and nothing past it. */
    memcpy(&local, info, sizeof local);
    c = calloc(1, sizeof *c);
    if (c == NULL) return -4; /* RKNN_ERR_MALLOC_FAIL */
    c->plat = current_platform();
    if (c->plat == NULL) {
        log_error("fake: unknown FAKE_RKNN_PLATFORM=%s (use rk3588 or rk3566)", getenv("FAKE_RKNN_PLATFORM"));
        free(c);
        return RKNN_ERR_PARAM_INVALID;
    }
    rc = configure(c, &local);
    if (rc != RKNN_SUCC) {
        free(c);
        return rc;
    }
    fill_io(c);
    c->a_scale = c->c_scale = 1.0f; /* documented default without set_quant_params */
    c->handle = make_handle();
    c->next = ctxs;
    ctxs = c;
    live_ctx_count++;
    memcpy(io_attr, &c->io, sizeof c->io);
    *ctx = c->handle;
    return RKNN_SUCC;
}

EXPORT int rknn_matmul_set_core_mask(rknn_context ctx, int core_mask)
{
    ctx_rec *c;
    ENTER("rknn_matmul_set_core_mask");
    c = find_ctx(ctx);
    if (c == NULL) return RKNN_ERR_CTX_INVALID;
    if (core_mask != 0 && core_mask != 1 && core_mask != 2 && core_mask != 4) {
        log_error("Not support core mask: %d, fallback to single core auto mode", core_mask);
        last_core_mask = 0; /* the fallback in effect */
        return RKNN_ERR_FAIL;
    }
    last_core_mask = core_mask;
    return RKNN_SUCC;
}

EXPORT rknn_tensor_mem *rknn_create_mem(rknn_context ctx, uint32_t size)
{
    mem_rec *m;
    int injected;
    log_call("rknn_create_mem");
    if (take_fail("rknn_create_mem", &injected)) return NULL;
    if (find_ctx(ctx) == NULL || size == 0) return NULL;
    m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    m->pub = calloc(1, sizeof *m->pub);
    m->dev = calloc(size, 1);
    m->clean = calloc(size, 1);
    if (m->pub) m->pub->virt_addr = calloc(size, 1);
    if (!m->pub || !m->dev || !m->clean || !m->pub->virt_addr) {
        if (m->pub) free(m->pub->virt_addr);
        free(m->pub);
        free(m->dev);
        free(m->clean);
        free(m);
        return NULL;
    }
    m->pub->fd = -1;
    m->pub->size = size;
    m->pub->flags = 1; /* RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE */
    m->owner = ctx;
    m->next = mems;
    mems = m;
    live_mem_count++;
    live_byte_count += size;
    return m->pub;
}

EXPORT int rknn_destroy_mem(rknn_context ctx, rknn_tensor_mem *mem)
{
    mem_rec **link, *m;
    ENTER("rknn_destroy_mem");
    for (link = &mems; *link; link = &(*link)->next) {
        m = *link;
        if (mem != NULL && m->pub == mem) {
            /* The owning handle is accepted even after rknn_matmul_destroy:
             * handles are never reused, so this cannot free another's mem. */
            if (m->owner != ctx) {
                log_error("rknn_destroy_mem: mem %p was created on another context", (void *)mem);
                return RKNN_ERR_PARAM_INVALID;
            }
            *link = m->next;
            free_mem_rec(m);
            return RKNN_SUCC;
        }
    }
    log_error("rknn_destroy_mem: unknown mem %p", (void *)mem);
    return RKNN_ERR_PARAM_INVALID;
}

#if FAKE_RKNN_GEN >= 160
EXPORT int rknn_mem_sync(rknn_context ctx, rknn_tensor_mem *mem, int mode)
{
    mem_rec *m;
    uint32_t i;
    unsigned char *virt;
    ENTER("rknn_mem_sync");
    if (find_ctx(ctx) == NULL) return RKNN_ERR_CTX_INVALID;
    m = find_mem(mem);
    if (m == NULL) {
        log_error("rknn_mem_sync: unknown mem %p", (void *)mem);
        return RKNN_ERR_PARAM_INVALID;
    }
    virt = m->pub->virt_addr;
    switch (mode) {
    case SYNC_TO_DEVICE:
        memcpy(m->dev, virt, m->pub->size);
        break;
    case SYNC_FROM_DEVICE:
        memcpy(virt, m->dev, m->pub->size);
        break;
    case SYNC_BIDIRECTIONAL:
        /* Clean then invalidate: only bytes the CPU wrote since the last sync
         * reach the device; afterwards the CPU sees the device's data. */
        for (i = 0; i < m->pub->size; i++)
            if (virt[i] != m->clean[i]) m->dev[i] = virt[i];
        memcpy(virt, m->dev, m->pub->size);
        break;
    default:
        log_error("rknn_mem_sync: invalid mode %d", mode);
        return RKNN_ERR_PARAM_INVALID;
    }
    memcpy(m->clean, virt, m->pub->size);
    sync_counts[mode]++;
    return RKNN_SUCC;
}
#endif

EXPORT int rknn_matmul_set_io_mem(rknn_context ctx, rknn_tensor_mem *mem, rknn_matmul_tensor_attr *attr)
{
    ctx_rec *c;
    mem_rec *m;
    int which;
    const rknn_matmul_tensor_attr *mine;
    ENTER("rknn_matmul_set_io_mem");
    c = find_ctx(ctx);
    if (c == NULL) return RKNN_ERR_CTX_INVALID;
    if (mem == NULL || attr == NULL) {
        log_error("rknn_matmul_set_io_mem: mem and attr must not be NULL");
        return RKNN_ERR_PARAM_INVALID;
    }
    which = matrix_of(attr->name);
    if (which < 0) {
        log_error("rknn_matmul_set_io_mem: unknown tensor name \"%.32s\" (expected A, B or C)", attr->name);
        return RKNN_ERR_PARAM_INVALID;
    }
    m = find_mem(mem);
    if (m == NULL) {
        log_error("rknn_matmul_set_io_mem: mem %p was not created by rknn_create_mem", (void *)mem);
        return RKNN_ERR_PARAM_INVALID;
    }
    /* Judge the size against what create reported, not the caller's copy. */
    mine = which == MAT_A ? &c->io.A : which == MAT_B ? &c->io.B : &c->io.C;
    if (m->pub->size < mine->size) {
        log_error("rknn_matmul_set_io_mem: %s mem size %u < required %u", mine->name, m->pub->size, mine->size);
        return which == MAT_C ? RKNN_ERR_OUTPUT_INVALID : RKNN_ERR_INPUT_INVALID;
    }
    c->bound[which] = m;
    return RKNN_SUCC;
}

#if FAKE_RKNN_GEN >= 200
EXPORT int rknn_matmul_set_quant_params(rknn_context ctx, rknn_quant_params *params)
{
    ctx_rec *c;
    int which, want, i;
    ENTER("rknn_matmul_set_quant_params");
    c = find_ctx(ctx);
    if (c == NULL) return RKNN_ERR_CTX_INVALID;
    if (params == NULL) {
        log_error("rknn_matmul_set_quant_params: params must not be NULL");
        return RKNN_ERR_PARAM_INVALID;
    }
    which = matrix_of(params->name);
    if (which < 0) {
        log_error("rknn_matmul_set_quant_params: unknown tensor name \"%.32s\"", params->name);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (which == MAT_B)
        want = c->b_quant == Q_PER_CHANNEL ? c->N : c->b_quant == Q_PER_GROUP ? c->N * (c->K / c->group_size) : 1;
    else
        want = 1;
    if (params->scale == NULL || params->scale_len != want) {
        if (which == MAT_B)
            log_error("rknn_matmul_set_quant_params: B scale_len = %d, expected %d for B_quant_type %d",
                      params->scale_len, want, c->b_quant);
        else
            log_error("rknn_matmul_set_quant_params: A and C only support per layer (scale_len = %d)",
                      params->scale_len);
        return RKNN_ERR_PARAM_INVALID;
    }
    if (params->zp_len != 0) {
        if (params->zp == NULL || params->zp_len != want) {
            log_error("rknn_matmul_set_quant_params: zp_len = %d, expected 0 or %d", params->zp_len, want);
            return RKNN_ERR_PARAM_INVALID;
        }
        for (i = 0; i < params->zp_len; i++)
            if (params->zp[i] != 0) {
                log_error("fake: non-zero zero point (zp[%d] = %d) is not modelled, symmetric only", i,
                          params->zp[i]);
                return RKNN_ERR_PARAM_INVALID;
            }
    }
    if (which == MAT_A) {
        c->a_scale = params->scale[0];
    } else if (which == MAT_C) {
        c->c_scale = params->scale[0];
    } else {
        float *copy = malloc((size_t)want * sizeof *copy);
        if (copy == NULL) return -4;
        memcpy(copy, params->scale, (size_t)want * sizeof *copy);
        free(c->b_scale);
        c->b_scale = copy;
        c->b_scale_len = want;
    }
    return RKNN_SUCC;
}
#endif

#if FAKE_RKNN_GEN == 200
EXPORT int rknn_matmul_create_dyn_shape(rknn_context *ctx, void *info, int shape_num, void *shapes,
                                        rknn_matmul_io_attr *io_attrs)
{
    (void)ctx; (void)info; (void)shape_num; (void)shapes; (void)io_attrs;
    ENTER("rknn_matmul_create_dyn_shape");
    log_error("rknn_matmul_create_dyn_shape: not implemented in the fake");
    return RKNN_ERR_FAIL;
}
#endif

#if FAKE_RKNN_GEN >= 210
EXPORT int rknn_matmul_create_dynamic_shape(rknn_context *ctx, void *info, int shape_num, void *shapes,
                                            rknn_matmul_io_attr *io_attrs)
{
    (void)ctx; (void)info; (void)shape_num; (void)shapes; (void)io_attrs;
    ENTER("rknn_matmul_create_dynamic_shape");
    log_error("rknn_matmul_create_dynamic_shape: not implemented in the fake");
    return RKNN_ERR_FAIL;
}
#endif

/* Scale of B for column n and K-group g (1.0 without set_quant_params). */
static double b_scale_at(const ctx_rec *c, int g, int n)
{
    if (c->b_scale == NULL) return 1.0;
    if (c->b_quant == Q_PER_CHANNEL) return c->b_scale[n];
    if (c->b_quant == Q_PER_GROUP) return c->b_scale[(size_t)g * c->N + n];
    return c->b_scale[0];
}

/* The NPU's view of a buffer: before 1.6 there is no mem_sync, so the fake
 * treats the mapping as coherent; from 1.6 on it reads the device copy. */
static unsigned char *npu_view(const mem_rec *m)
{
#if FAKE_RKNN_GEN >= 160
    return m->dev;
#else
    return m->pub->virt_addr;
#endif
}

static void run_integer(const ctx_rec *c, const unsigned char *abuf, const unsigned char *bbuf, unsigned char *cbuf)
{
    int M = c->M, K = c->K, N = c->N, m, n, k, g;
    int group = c->b_quant == Q_PER_GROUP ? c->group_size : K;
    int in = c->t.in_ttype;
    /* Decode once into normal order (B transposed) so the O(MKN) loop is
     * sequential; results are exact integers, so order does not matter. */
    int8_t *a = malloc((size_t)M * K), *bt = malloc((size_t)N * K);
    if (a == NULL || bt == NULL) {
        free(a);
        free(bt);
        return;
    }
    for (m = 0; m < M; m++)
        for (k = 0; k < K; k++) a[(size_t)m * K + k] = (int8_t)get_int(abuf, a_index(c, m, k), in);
    for (k = 0; k < K; k++)
        for (n = 0; n < N; n++) bt[(size_t)n * K + k] = (int8_t)get_int(bbuf, b_index(c, k, n), in);
    for (m = 0; m < M; m++) {
        const int8_t *ar = a + (size_t)m * K;
        for (n = 0; n < N; n++) {
            const int8_t *br = bt + (size_t)n * K;
            size_t at = c_index(c, m, n);
            int64_t total = 0;
            double scaled = 0.0; /* Σ_g sB[g][n] · partial_g */
            for (g = 0; g < K / group; g++) {
                int64_t part = 0;
                for (k = g * group; k < (g + 1) * group; k++) part += (int32_t)ar[k] * br[k];
                total += part;
                scaled += b_scale_at(c, g, n) * (double)part;
            }
            switch (c->type) {
            case 2: {
                int32_t v = (int32_t)(total > INT32_MAX ? INT32_MAX : total < INT32_MIN ? INT32_MIN : total);
                memcpy(cbuf + 4 * at, &v, 4);
                break;
            }
            case 9: {
                float v = (float)(scaled * (double)c->a_scale);
                memcpy(cbuf + 4 * at, &v, 4);
                break;
            }
            case 3: {
                double x = scaled * (double)c->a_scale / (double)c->c_scale;
                double r = x >= 0 ? floor(x + 0.5) : ceil(x - 0.5); /* half away from zero */
                int8_t v = (int8_t)(r > 127 ? 127 : r < -128 ? -128 : r);
                cbuf[at] = (unsigned char)v;
                break;
            }
            default: { /* 10: INT4 -> INT16, saturated */
                int16_t v = (int16_t)(total > 32767 ? 32767 : total < -32768 ? -32768 : total);
                memcpy(cbuf + 2 * at, &v, 2);
                break;
            }
            }
        }
    }
    free(a);
    free(bt);
}

static void run_fp16(const ctx_rec *c, const unsigned char *abuf, const unsigned char *bbuf, unsigned char *cbuf)
{
    int M = c->M, K = c->K, N = c->N, m, n, k;
    float *a = malloc((size_t)M * K * sizeof *a), *bt = malloc((size_t)N * K * sizeof *bt);
    if (a == NULL || bt == NULL) {
        free(a);
        free(bt);
        return;
    }
    for (m = 0; m < M; m++)
        for (k = 0; k < K; k++) a[(size_t)m * K + k] = get_half(abuf, a_index(c, m, k));
    for (k = 0; k < K; k++)
        for (n = 0; n < N; n++) bt[(size_t)n * K + k] = get_half(bbuf, b_index(c, k, n));
    for (m = 0; m < M; m++)
        for (n = 0; n < N; n++) {
            size_t at = c_index(c, m, n);
            float acc = 0.0f;
            /* fp16 x fp16 is exact in float, so only the float32 sums, taken
             * in k order, round. */
            for (k = 0; k < K; k++) acc += a[(size_t)m * K + k] * bt[(size_t)n * K + k];
            if (c->type == 1) {
                memcpy(cbuf + 4 * at, &acc, 4);
            } else {
                uint16_t h = float_to_half(acc);
                memcpy(cbuf + 2 * at, &h, 2);
            }
        }
    free(a);
    free(bt);
}

EXPORT int rknn_matmul_run(rknn_context ctx)
{
    ctx_rec *c;
    ENTER("rknn_matmul_run");
    c = find_ctx(ctx);
    if (c == NULL) return RKNN_ERR_CTX_INVALID;
    if (c->bound[MAT_A] == NULL || c->bound[MAT_B] == NULL) {
        log_error("rknn_matmul_run: input %s is not set (call rknn_matmul_set_io_mem)",
                  c->bound[MAT_A] == NULL ? "A" : "B");
        return RKNN_ERR_INPUT_INVALID;
    }
    if (c->bound[MAT_C] == NULL) {
        log_error("rknn_matmul_run: output C is not set (call rknn_matmul_set_io_mem)");
        return RKNN_ERR_OUTPUT_INVALID;
    }
    if (c->t.in_dtype == D_FP16)
        run_fp16(c, npu_view(c->bound[MAT_A]), npu_view(c->bound[MAT_B]), npu_view(c->bound[MAT_C]));
    else
        run_integer(c, npu_view(c->bound[MAT_A]), npu_view(c->bound[MAT_B]), npu_view(c->bound[MAT_C]));
    return RKNN_SUCC;
}

EXPORT int rknn_matmul_destroy(rknn_context ctx)
{
    ctx_rec **link;
    ENTER("rknn_matmul_destroy");
    for (link = &ctxs; *link; link = &(*link)->next) {
        if ((*link)->handle == ctx) {
            ctx_rec *c = *link;
            /* Mems created on it stay live (and counted) until destroy_mem. */
            *link = c->next;
            free_ctx_rec(c);
            return RKNN_SUCC;
        }
    }
    return RKNN_ERR_CTX_INVALID;
}

/* ------------------------------------------------------------------------ */
/* Introspection for tests.                                                  */
/* ------------------------------------------------------------------------ */

EXPORT int fake_rknn_live_contexts(void) { return live_ctx_count; }

EXPORT int fake_rknn_live_mems(void) { return live_mem_count; }

EXPORT long long fake_rknn_live_bytes(void) { return live_byte_count; }

EXPORT int fake_rknn_last_core_mask(void) { return last_core_mask; }

/* Successful rknn_mem_sync calls with `mode` since reset (0 = all modes). */
EXPORT int fake_rknn_sync_count(int mode)
{
    if (mode == 0) return (int)(sync_counts[1] + sync_counts[2] + sync_counts[3]);
    return mode >= 1 && mode <= 3 ? (int)sync_counts[mode] : 0;
}

EXPORT const char *fake_rknn_call_log(void) { return call_log; }

EXPORT void fake_rknn_fail(const char *function, int code)
{
    if (function == NULL || function[0] == '\0') {
        n_fails = 0;
        return;
    }
    if (n_fails == MAX_FAILS) return;
    strncpy(fails[n_fails].function, function, sizeof fails[0].function - 1);
    fails[n_fails].function[sizeof fails[0].function - 1] = '\0';
    fails[n_fails].code = code;
    n_fails++;
}

EXPORT size_t fake_rknn_sizeof(const char *struct_name)
{
    if (struct_name == NULL) return 0;
    if (strcmp(struct_name, "rknn_tensor_mem") == 0) return sizeof(rknn_tensor_mem);
    if (strcmp(struct_name, "rknn_matmul_tensor_attr") == 0) return sizeof(rknn_matmul_tensor_attr);
    if (strcmp(struct_name, "rknn_matmul_io_attr") == 0) return sizeof(rknn_matmul_io_attr);
    if (strcmp(struct_name, "rknn_matmul_info") == 0) return sizeof(rknn_matmul_info);
    if (strcmp(struct_name, "rknn_quant_params") == 0) return sizeof(rknn_quant_params);
    if (strcmp(struct_name, "rknn_context") == 0) return sizeof(rknn_context);
    return 0;
}

EXPORT void fake_rknn_reset(void)
{
    while (mems) {
        mem_rec *m = mems;
        mems = m->next;
        free_mem_rec(m);
    }
    while (ctxs) {
        ctx_rec *c = ctxs;
        ctxs = c->next;
        free_ctx_rec(c);
    }
    while (graveyard) {
        rknn_tensor_mem *dead = graveyard;
        graveyard = dead->priv_data;
        free(dead);
    }
    live_ctx_count = live_mem_count = 0;
    live_byte_count = 0;
    last_core_mask = -1;
    memset(sync_counts, 0, sizeof sync_counts);
    call_log_len = 0;
    call_log[0] = '\0';
    n_fails = 0;
}
