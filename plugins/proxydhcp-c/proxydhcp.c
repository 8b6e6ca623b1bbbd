/* proxydhcp-c: the proxyDHCP boot server of plugins/proxydhcp written again in C, to show that the
 * plugin contract (plugins/wit, world `boot-server`) does not depend on Rust or on the Rust SDK.
 * It is built against pxelab:plugin@0.1.0 (plugins/wit/v0.1.0), which the host still runs: it
 * needs nothing of 0.2.0, and so the shipped plugins keep one of the previous contract. Same configuration keys, same replies byte for byte, same TFTP behaviour: a change to
 * one twin is a change to the other (tests/proxydhcp.rs compares them frame by frame).
 *
 * Behaviour (dnsmasq's `dhcp-range=<net>,proxy` with `dhcp-boot`, see shared DOMAIN.md):
 * - port 67: a DHCPDISCOVER whose option 60 starts with "PXEClient" gets a proxy DHCPOFFER
 *   (yiaddr 0.0.0.0, siaddr and option 54 = own address, option 60 "PXEClient", option 43 with
 *   PXE_DISCOVERY_CONTROL = 8, option 97 echoed, `file` = the boot file for option 93), to
 *   giaddr:67 when relayed, else broadcast to 255.255.255.255:68. No state: every relayed copy
 *   is answered.
 * - port 4011: a PXE DHCPREQUEST with ciaddr set gets a DHCPACK with the boot file, sent back to
 *   the request's source address and port.
 * - port 69 and the transfer ports: a read-only TFTP server (RFC 1350, RFC 2347 OACK, RFC 2348
 *   blksize, RFC 2349 timeout and tsize), retransmitting on a timer, five times at most.
 * - anything else is ignored and logged at debug level.
 * Files are synthetic: byte i of a file is a function of i and an FNV-1a hash of its lower-cased
 * name, `nbp_size` bytes long (plugins/proxydhcp/src/lib.rs, `nbp_content`).
 *
 * Determinism: no clock, no randomness, no floating point; only the host imports. All state lives
 * in static storage; the heap holds only the canonical ABI's arguments and is reset when each
 * export returns (libc/libc.c).
 *
 * Where the twins may differ: on malformed DHCP input. The Rust twin decodes with dhcproto, which
 * concatenates split options (RFC 3396) and stops at the first option it cannot decode; this file
 * reads only options 53, 60, 93 and 97, keeps the last copy of each, and stops at a truncated
 * option. Well-formed messages, which is all a PXE client sends, get identical replies.
 *
 * How it is built (plugins/artifacts/build.rs, no manual step):
 *   1. C bindings for world `boot-server` are generated from plugins/wit/v0.1.0 with the
 *      `wit-bindgen-c` crate: boot_server.h, boot_server.c and boot_server_component_type.o (a
 *      wasm object whose custom section carries the component type);
 *   2. clang --target=wasm32-unknown-unknown -O2 -ffreestanding -nostdlib compiles this file,
 *      libc/libc.c (the few libc functions needed) and boot_server.c, with libc/include first
 *      on the include path;
 *   3. wasm-ld --no-entry links them with boot_server_component_type.o into a core module;
 *   4. wit_component::ComponentEncoder turns the module into a component, as for Rust plugins.
 * Debian packages: clang, lld.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boot_server.h"
#include "pxelab_heap.h"

/* ---------------------------------------------------------------------------------------------
 * Constants (mirroring plugins/proxydhcp/src/lib.rs and plugins/sdk/src/{dhcp,tftp}.rs)
 */

#define SERVER_PORT 67
#define CLIENT_PORT 68
#define PXE_PORT 4011
#define TFTP_PORT 69

#define BOOT_FILE_LEN_MAX 127
#define NBP_SIZE_DEFAULT 26000u
/* The Rust twin makes both files at start, within one call's fuel: the same bound here. */
#define NBP_SIZE_MAX (1u << 20)

#define LEVEL_DEBUG PXELAB_PLUGIN_TYPES_LEVEL_DEBUG
#define LEVEL_INFO PXELAB_PLUGIN_TYPES_LEVEL_INFO
#define LEVEL_WARNING PXELAB_PLUGIN_TYPES_LEVEL_WARNING

/* BOOTP/DHCP layout (RFC 2131): op..giaddr 28 bytes, chaddr 16, sname 64, file 128, cookie. */
#define DHCP_CHADDR_OFFSET 28
#define DHCP_CHADDR_LEN 16
#define DHCP_FILE_OFFSET 108
#define DHCP_COOKIE_OFFSET 236
#define DHCP_OPTIONS_OFFSET 240

#define DHCP_OPTION_PAD 0
#define DHCP_OPTION_VENDOR 43
#define DHCP_OPTION_MESSAGE_TYPE 53
#define DHCP_OPTION_SERVER_ID 54
#define DHCP_OPTION_CLASS_ID 60
#define DHCP_OPTION_CLIENT_ARCH 93
#define DHCP_OPTION_MACHINE_ID 97
#define DHCP_OPTION_END 255

#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_ACK 5

static const uint8_t DHCP_COOKIE[4] = {99, 130, 83, 99};
static const char PXE_CLIENT_CLASS[] = "PXEClient";
#define PXE_CLIENT_CLASS_LEN 9
/* Option 43: PXE_DISCOVERY_CONTROL (6) = 8, "boot file present: no discovery", then End. */
static const uint8_t PXE_VENDOR_OPTIONS[4] = {6, 1, 8, 255};

#define TFTP_RRQ 1
#define TFTP_WRQ 2
#define TFTP_DATA 3
#define TFTP_ACK 4
#define TFTP_ERROR 5
#define TFTP_OACK 6

#define TFTP_ERROR_NOT_DEFINED 0
#define TFTP_ERROR_FILE_NOT_FOUND 1
#define TFTP_ERROR_ACCESS_VIOLATION 2
#define TFTP_ERROR_UNKNOWN_TRANSFER_ID 5

#define TFTP_BLKSIZE_DEFAULT 512u
#define TFTP_BLKSIZE_MIN 8u
#define TFTP_BLKSIZE_MAX 65464u
/* The largest block one Ethernet frame carries without IP fragmentation (RFC 2348's example);
 * the server answers a larger request with this, as the Rust SDK's server does. */
#define TFTP_BLKSIZE_ETHERNET 1468u
#define TFTP_TRANSFER_PORT_FIRST 49152u
#define TFTP_TIMEOUT_DEFAULT_NS 1000000000ull
#define TFTP_RETRANSMISSIONS_MAX 5u
#define TFTP_TRANSFERS_MAX 1024
/* Timer tokens: generation << 16 | transfer port, below 2^48 (the SDK's TOKEN_SPAN, base 0). */
#define TFTP_TOKEN_SPAN (1ull << 48)
/* Three accepted options of at most 7 + 1 + 20 + 1 bytes each. */
#define TFTP_OACK_MAX 96

/* ---------------------------------------------------------------------------------------------
 * State
 */

typedef struct {
    char name[BOOT_FILE_LEN_MAX + 1];
    size_t len;
    /* FNV-1a of the lower-cased name: the seed of the file's content. */
    uint64_t hash;
} boot_file_t;

enum { FILE_BIOS = 0, FILE_EFI = 1 };

typedef struct {
    bool live;
    uint16_t port;
    uint32_t peer_ip;
    uint16_t peer_port;
    uint8_t file;
    uint32_t blksize;
    uint64_t timeout_ns;
    /* Number of the last block sent; 0 while the OACK waits for ACK 0. */
    uint64_t block;
    uint32_t retransmissions;
    uint64_t timer_generation;
    /* The OACK, and which options it answers (OPTION_* bits), in the order they were asked. */
    uint8_t oack[TFTP_OACK_MAX];
    size_t oack_len;
    uint8_t accepted;
} transfer_t;

enum { OPTION_BLKSIZE = 1, OPTION_TSIZE = 2, OPTION_TIMEOUT = 4 };

static boot_file_t files[2];
static uint64_t nbp_size;
static transfer_t transfers[TFTP_TRANSFERS_MAX];
static size_t transfers_live;
static uint32_t next_port = TFTP_TRANSFER_PORT_FIRST;

/* One outgoing datagram at a time: the largest is a DATA block of TFTP_BLKSIZE_MAX bytes. */
static uint8_t packet[4 + TFTP_BLKSIZE_MAX];

/* ---------------------------------------------------------------------------------------------
 * Text: log lines and configuration errors are built in static buffers.
 */

typedef struct {
    char *bytes;
    size_t cap;
    size_t len;
} text_t;

static char log_bytes[512];
static char error_bytes[1024];

static void put_bytes(text_t *t, const void *bytes, size_t n) {
    if (n > t->cap - t->len) {
        n = t->cap - t->len;
    }
    memcpy(t->bytes + t->len, bytes, n);
    t->len += n;
}

static void put_str(text_t *t, const char *s) { put_bytes(t, s, strlen(s)); }

static void put_u64(text_t *t, uint64_t value) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n) {
        put_bytes(t, &digits[--n], 1);
    }
}

static void put_hex(text_t *t, uint64_t value, unsigned width) {
    static const char hex[] = "0123456789abcdef";
    while (width) {
        width--;
        put_bytes(t, &hex[(value >> (4 * width)) & 15], 1);
    }
}

static void put_ip(text_t *t, uint32_t ip) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        put_u64(t, (ip >> shift) & 255);
        if (shift) {
            put_str(t, ".");
        }
    }
}

static void put_endpoint(text_t *t, uint32_t ip, uint16_t port) {
    put_ip(t, ip);
    put_str(t, ":");
    put_u64(t, port);
}

static void put_mac(text_t *t, const uint8_t *chaddr, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (i) {
            put_str(t, ":");
        }
        put_hex(t, chaddr[i], 2);
    }
}

static text_t log_start(void) { return (text_t){log_bytes, sizeof log_bytes, 0}; }

static void log_send(pxelab_plugin_host_level_t level, text_t *t) {
    boot_server_string_t message = {(uint8_t *)t->bytes, t->len};
    pxelab_plugin_host_log(level, &message);
}

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 */

static uint16_t read_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t read_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void write_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void write_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static bool eq_ignore_ascii_case(const uint8_t *a, size_t a_len, const char *b) {
    size_t b_len = strlen(b);
    if (a_len != b_len) {
        return false;
    }
    for (size_t i = 0; i < a_len; i++) {
        if (ascii_lower(a[i]) != ascii_lower((uint8_t)b[i])) {
            return false;
        }
    }
    return true;
}

static bool contains_nul(const uint8_t *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == 0) {
            return true;
        }
    }
    return false;
}

static bool is_ascii_whitespace(uint8_t c) { return c == ' ' || (c >= 9 && c <= 13); }

/* Rust's `str::parse::<uN>()`: an optional '+', then one or more ASCII digits, no overflow. */
static bool parse_whole(const uint8_t *s, size_t len, uint64_t max, uint64_t *out) {
    if (len && s[0] == '+') {
        s++;
        len--;
    }
    if (len == 0) {
        return false;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (value > (max - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

static uint64_t fnv1a_lower(const uint8_t *name, size_t len) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        hash = (hash ^ ascii_lower(name[i])) * 0x100000001b3ull;
    }
    return hash;
}

static uint8_t nbp_byte(uint64_t hash, uint64_t index) {
    return (uint8_t)(((hash + index) * 0x9e3779b97f4a7c15ull) >> 56);
}

static void send_datagram(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                          const uint8_t *payload, size_t len) {
    pxelab_plugin_host_datagram_t d = {
        .src_ip = pxelab_plugin_host_own_ip(),
        .src_port = src_port,
        .dst_ip = dst_ip,
        .dst_port = dst_port,
        .payload = {(uint8_t *)payload, len},
    };
    pxelab_plugin_host_send(&d);
}

/* ---------------------------------------------------------------------------------------------
 * Configuration
 */

static const char *const CONFIG_KEYS[3] = {"boot_file_bios", "boot_file_efi", "nbp_size"};

static bool string_is(const boot_server_string_t *s, const char *literal) {
    size_t n = strlen(literal);
    return s->len == n && memcmp(s->ptr, literal, n) == 0;
}

static text_t error_start(const char *key) {
    text_t t = {error_bytes, sizeof error_bytes, 0};
    put_str(&t, "config `");
    put_str(&t, key);
    put_str(&t, "`: ");
    return t;
}

static bool refuse(text_t *t, boot_server_string_t *err) {
    err->ptr = (uint8_t *)t->bytes;
    err->len = t->len;
    return false;
}

static bool set_boot_file(boot_file_t *file, const char *key, const boot_server_string_t *value,
                          const char *fallback, boot_server_string_t *err) {
    const uint8_t *name = value ? value->ptr : (const uint8_t *)fallback;
    size_t len = value ? value->len : strlen(fallback);
    if (len == 0 || len > BOOT_FILE_LEN_MAX || contains_nul(name, len)) {
        text_t t = error_start(key);
        put_str(&t, "expected a file name of 1 to 127 bytes, got `");
        put_bytes(&t, name, len);
        put_str(&t, "`");
        return refuse(&t, err);
    }
    memcpy(file->name, name, len);
    file->name[len] = 0;
    file->len = len;
    file->hash = fnv1a_lower(name, len);
    return true;
}

static bool configure_nbp_size(const boot_server_string_t *value, boot_server_string_t *err) {
    if (value == NULL) {
        nbp_size = NBP_SIZE_DEFAULT;
        return true;
    }
    const uint8_t *s = value->ptr;
    size_t len = value->len;
    while (len && is_ascii_whitespace(s[0])) {
        s++;
        len--;
    }
    while (len && is_ascii_whitespace(s[len - 1])) {
        len--;
    }
    uint64_t size;
    if (!parse_whole(s, len, UINT64_MAX, &size)) {
        text_t t = error_start("nbp_size");
        put_str(&t, "expected a whole number, got `");
        put_bytes(&t, value->ptr, value->len);
        put_str(&t, "`");
        return refuse(&t, err);
    }
    if (size < 1 || size > NBP_SIZE_MAX) {
        text_t t = error_start("nbp_size");
        put_u64(&t, size);
        put_str(&t, " is out of range; expected 1 to ");
        put_u64(&t, NBP_SIZE_MAX);
        return refuse(&t, err);
    }
    nbp_size = size;
    return true;
}

/* Checks the (key, value) pairs as the Rust SDK's `Config::new` does (an unknown or repeated key
 * is refused, naming it), then reads each key as plugins/proxydhcp does, in the same order. */
static bool configure(const boot_server_list_tuple2_string_string_t *config,
                      boot_server_string_t *err) {
    const boot_server_string_t *values[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < config->len; i++) {
        const boot_server_string_t *key = &config->ptr[i].f0;
        size_t k = 0;
        while (k < 3 && !string_is(key, CONFIG_KEYS[k])) {
            k++;
        }
        if (k == 3 || values[k] != NULL) {
            text_t t = {error_bytes, sizeof error_bytes, 0};
            put_str(&t, "config `");
            put_bytes(&t, key->ptr, key->len);
            put_str(&t, k == 3 ? "`: unknown key; expected one of boot_file_bios, boot_file_efi, "
                                 "nbp_size"
                               : "`: given more than once");
            return refuse(&t, err);
        }
        values[k] = &config->ptr[i].f1;
    }
    return set_boot_file(&files[FILE_BIOS], "boot_file_bios", values[0], "pxelinux.0", err) &&
           set_boot_file(&files[FILE_EFI], "boot_file_efi", values[1], "bootx64.efi", err) &&
           configure_nbp_size(values[2], err);
}

/* ---------------------------------------------------------------------------------------------
 * DHCP: the few fields and options a proxyDHCP server reads, and its two replies.
 */

typedef struct {
    uint8_t op;
    uint8_t htype;
    uint8_t hlen;
    uint32_t xid;
    uint16_t flags;
    uint32_t ciaddr;
    uint32_t giaddr;
    const uint8_t *chaddr;
    int message_type; /* -1 when absent */
    const uint8_t *class_id;
    size_t class_len;
    bool has_class;
    uint16_t arch;
    bool has_arch;
    const uint8_t *guid;
    size_t guid_len;
    bool has_guid;
} dhcp_t;

/* A DHCP message, or false for anything that is not one: the magic cookie must be in place and
 * hlen at most 16 (sdk::dhcp::decode). */
static bool dhcp_decode(const uint8_t *b, size_t len, dhcp_t *m) {
    if (len < DHCP_OPTIONS_OFFSET || memcmp(b + DHCP_COOKIE_OFFSET, DHCP_COOKIE, 4) != 0 ||
        b[2] > DHCP_CHADDR_LEN) {
        return false;
    }
    memset(m, 0, sizeof *m);
    m->op = b[0];
    m->htype = b[1];
    m->hlen = b[2];
    m->xid = read_u32(b + 4);
    m->flags = read_u16(b + 10);
    m->ciaddr = read_u32(b + 12);
    m->giaddr = read_u32(b + 24);
    m->chaddr = b + DHCP_CHADDR_OFFSET;
    m->message_type = -1;
    size_t i = DHCP_OPTIONS_OFFSET;
    while (i < len) {
        uint8_t code = b[i];
        if (code == DHCP_OPTION_PAD) {
            i++;
            continue;
        }
        if (code == DHCP_OPTION_END || len - i < 2 || len - i - 2 < b[i + 1]) {
            break;
        }
        size_t option_len = b[i + 1];
        const uint8_t *value = b + i + 2;
        switch (code) {
        case DHCP_OPTION_MESSAGE_TYPE:
            if (option_len < 1) {
                return true;
            }
            m->message_type = value[0];
            break;
        case DHCP_OPTION_CLASS_ID:
            m->class_id = value;
            m->class_len = option_len;
            m->has_class = true;
            break;
        case DHCP_OPTION_CLIENT_ARCH:
            if (option_len < 2) {
                return true;
            }
            m->arch = read_u16(value);
            m->has_arch = true;
            break;
        case DHCP_OPTION_MACHINE_ID:
            m->guid = value;
            m->guid_len = option_len;
            m->has_guid = true;
            break;
        default:
            break;
        }
        i += 2 + option_len;
    }
    return true;
}

static bool is_pxe_client(const dhcp_t *m) {
    return m->has_class && m->class_len >= PXE_CLIENT_CLASS_LEN &&
           memcmp(m->class_id, PXE_CLIENT_CLASS, PXE_CLIENT_CLASS_LEN) == 0;
}

/* Option 93: 6 EFI IA32, 7 EFI BC, 9 EFI x64 take the EFI file; anything else the BIOS one. */
static const boot_file_t *file_for(const dhcp_t *m) {
    bool efi = m->has_arch && (m->arch == 6 || m->arch == 7 || m->arch == 9);
    return &files[efi ? FILE_EFI : FILE_BIOS];
}

static const char *message_type_name(int type) {
    switch (type) {
    case -1:
        return "None";
    case DHCP_DISCOVER:
        return "Some(Discover)";
    case DHCP_REQUEST:
        return "Some(Request)";
    default:
        return "Some(other)";
    }
}

/* The request on `port` if it is a PXE client's message of `type`; else logs why not. */
static bool pxe_request(const boot_server_datagram_t *d, int type, dhcp_t *m) {
    if (!dhcp_decode(d->payload.ptr, d->payload.len, m)) {
        text_t t = log_start();
        put_str(&t, "proxydhcp: undecodable datagram on port ");
        put_u64(&t, d->dst_port);
        put_str(&t, " from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
        return false;
    }
    if (m->op != 1 || m->message_type != type) {
        text_t t = log_start();
        put_str(&t, "proxydhcp: ");
        put_str(&t, message_type_name(m->message_type));
        put_str(&t, " on port ");
        put_u64(&t, d->dst_port);
        put_str(&t, " from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
        return false;
    }
    if (!is_pxe_client(m)) {
        text_t t = log_start();
        put_str(&t, type == DHCP_DISCOVER ? "proxydhcp: non-PXE Discover from "
                                          : "proxydhcp: non-PXE Request from ");
        put_mac(&t, m->chaddr, m->hlen);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
        return false;
    }
    return true;
}

static size_t put_option(uint8_t *p, uint8_t code, const void *value, size_t len) {
    p[0] = code;
    p[1] = (uint8_t)len;
    memcpy(p + 2, value, len);
    return 2 + len;
}

/* A BOOTREPLY to `req` in `packet`, laid out as dhcproto encodes the Rust twin's reply: header
 * fields from the request (sdk::dhcp::reply_to), options in ascending order, End, no padding. */
static size_t dhcp_reply(const dhcp_t *req, uint8_t type, uint32_t ciaddr, const boot_file_t *file,
                         bool vendor_options, uint32_t own_ip) {
    uint8_t *p = packet;
    memset(p, 0, DHCP_OPTIONS_OFFSET);
    p[0] = 2; /* BOOTREPLY */
    p[1] = req->htype;
    p[2] = req->hlen;
    write_u32(p + 4, req->xid);
    write_u16(p + 10, req->flags);
    write_u32(p + 12, ciaddr);
    write_u32(p + 20, own_ip); /* siaddr: the TFTP server is this node */
    write_u32(p + 24, req->giaddr);
    memcpy(p + DHCP_CHADDR_OFFSET, req->chaddr, req->hlen);
    memcpy(p + DHCP_FILE_OFFSET, file->name, file->len);
    memcpy(p + DHCP_COOKIE_OFFSET, DHCP_COOKIE, 4);
    size_t n = DHCP_OPTIONS_OFFSET;
    uint8_t own[4];
    write_u32(own, own_ip);
    if (vendor_options) {
        n += put_option(p + n, DHCP_OPTION_VENDOR, PXE_VENDOR_OPTIONS, sizeof PXE_VENDOR_OPTIONS);
    }
    n += put_option(p + n, DHCP_OPTION_MESSAGE_TYPE, &type, 1);
    n += put_option(p + n, DHCP_OPTION_SERVER_ID, own, 4);
    n += put_option(p + n, DHCP_OPTION_CLASS_ID, PXE_CLIENT_CLASS, PXE_CLIENT_CLASS_LEN);
    /* dhcproto writes an empty option 97 as nothing at all. */
    if (req->has_guid && req->guid_len > 0) {
        n += put_option(p + n, DHCP_OPTION_MACHINE_ID, req->guid, req->guid_len);
    }
    p[n++] = DHCP_OPTION_END;
    return n;
}

/* Port 67: every PXE DISCOVER, each relayed copy included, gets a proxy offer. */
static void on_server_port(const boot_server_datagram_t *d) {
    dhcp_t discover;
    if (!pxe_request(d, DHCP_DISCOVER, &discover)) {
        return;
    }
    uint32_t own_ip = pxelab_plugin_host_own_ip();
    const boot_file_t *file = file_for(&discover);
    size_t len = dhcp_reply(&discover, DHCP_OFFER, 0, file, true, own_ip);
    uint32_t dst_ip = discover.giaddr ? discover.giaddr : 0xffffffffu;
    uint16_t dst_port = discover.giaddr ? SERVER_PORT : CLIENT_PORT;
    text_t t = log_start();
    put_str(&t, "proxydhcp: proxy OFFER to ");
    put_mac(&t, discover.chaddr, discover.hlen);
    put_str(&t, " xid 0x");
    put_hex(&t, discover.xid, 8);
    put_str(&t, " via ");
    put_endpoint(&t, dst_ip, dst_port);
    put_str(&t, ": ");
    put_bytes(&t, file->name, file->len);
    log_send(LEVEL_INFO, &t);
    send_datagram(SERVER_PORT, dst_ip, dst_port, packet, len);
}

/* Port 4011: the client's unicast request gets an ACK with the boot file, back to its source. */
static void on_boot_request(const boot_server_datagram_t *d) {
    dhcp_t request;
    if (!pxe_request(d, DHCP_REQUEST, &request)) {
        return;
    }
    uint32_t own_ip = pxelab_plugin_host_own_ip();
    const boot_file_t *file = file_for(&request);
    size_t len = dhcp_reply(&request, DHCP_ACK, request.ciaddr, file, false, own_ip);
    text_t t = log_start();
    put_str(&t, "proxydhcp: boot ACK to ");
    put_endpoint(&t, d->src_ip, d->src_port);
    put_str(&t, " (");
    put_mac(&t, request.chaddr, request.hlen);
    put_str(&t, "): ");
    put_bytes(&t, file->name, file->len);
    log_send(LEVEL_INFO, &t);
    send_datagram(PXE_PORT, d->src_ip, d->src_port, packet, len);
}

/* ---------------------------------------------------------------------------------------------
 * TFTP: a read-only server over the two boot files (plugins/sdk/src/tftp.rs, wire::tftp).
 */

static bool utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t min;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            extra = 1, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < extra) {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += 1 + extra;
    }
    return true;
}

/* The number of NUL-terminated UTF-8 strings `b` consists of, or -1 if it is not such a run. */
static long count_strings(const uint8_t *b, size_t len) {
    if (len == 0) {
        return 0;
    }
    if (b[len - 1] != 0) {
        return -1;
    }
    long count = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == 0) {
            if (!utf8_valid(b + start, i - start)) {
                return -1;
            }
            count++;
            start = i + 1;
        }
    }
    return count;
}

/* The string at *cursor (its NUL excluded); moves the cursor past its NUL. */
static const uint8_t *next_string(const uint8_t **cursor, size_t *len) {
    const uint8_t *s = *cursor;
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    *len = n;
    *cursor = s + n + 1;
    return s;
}

/* wire::tftp::Packet::new_checked: the opcode, or 0 for a malformed packet. */
static int tftp_check(const uint8_t *b, size_t len) {
    if (len < 2) {
        return 0;
    }
    int opcode = read_u16(b);
    long strings;
    switch (opcode) {
    case TFTP_RRQ:
    case TFTP_WRQ:
        strings = count_strings(b + 2, len - 2);
        return (strings >= 2 && strings % 2 == 0) ? opcode : 0;
    case TFTP_OACK:
        strings = count_strings(b + 2, len - 2);
        return (strings >= 0 && strings % 2 == 0) ? opcode : 0;
    case TFTP_DATA:
        return (len >= 4 && len - 4 <= TFTP_BLKSIZE_MAX) ? opcode : 0;
    case TFTP_ACK:
        return len == 4 ? opcode : 0;
    case TFTP_ERROR:
        return (len >= 4 && count_strings(b + 4, len - 4) == 1) ? opcode : 0;
    default:
        return 0;
    }
}

static size_t tftp_error_packet(uint16_t code, const char *message) {
    size_t n = strlen(message);
    write_u16(packet, TFTP_ERROR);
    write_u16(packet + 2, code);
    memcpy(packet + 4, message, n);
    packet[4 + n] = 0;
    return 5 + n;
}

/* File names compare case-insensitively with `\` and `/` alike and without a leading separator,
 * as Windows TFTP servers do. */
static bool same_file_name(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
    while (a_len && (*a == '/' || *a == '\\')) {
        a++;
        a_len--;
    }
    while (b_len && (*b == '/' || *b == '\\')) {
        b++;
        b_len--;
    }
    if (a_len != b_len) {
        return false;
    }
    for (size_t i = 0; i < a_len; i++) {
        uint8_t x = a[i] == '\\' ? '/' : ascii_lower(a[i]);
        uint8_t y = b[i] == '\\' ? '/' : ascii_lower(b[i]);
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* The file served under `name`, or -1. When both names are one file, the EFI one wins, as in
 * the Rust twin where it is added last. */
static int find_file(const uint8_t *name, size_t len) {
    for (int index = FILE_EFI; index >= FILE_BIOS; index--) {
        const boot_file_t *file = &files[index];
        if (same_file_name(name, len, (const uint8_t *)file->name, file->len)) {
            return index;
        }
    }
    return -1;
}

static transfer_t *find_transfer(uint32_t port) {
    if (transfers_live == 0) {
        return NULL;
    }
    for (size_t i = 0; i < TFTP_TRANSFERS_MAX; i++) {
        if (transfers[i].live && transfers[i].port == port) {
            return &transfers[i];
        }
    }
    return NULL;
}

static void remove_transfer(transfer_t *transfer) {
    transfer->live = false;
    transfers_live--;
}

/* The next port of the dynamic range not used by a live transfer. */
static uint16_t allocate_port(void) {
    for (;;) {
        uint32_t port = next_port;
        next_port = port == 65535 ? TFTP_TRANSFER_PORT_FIRST : port + 1;
        if (find_transfer(port) == NULL) {
            return (uint16_t)port;
        }
    }
}

static void tftp_reply_error(uint32_t ip, uint16_t port, uint16_t code, const char *message) {
    uint16_t src_port = allocate_port();
    size_t len = tftp_error_packet(code, message);
    send_datagram(src_port, ip, port, packet, len);
}

static uint64_t final_block(const transfer_t *transfer) {
    return nbp_size / transfer->blksize + 1;
}

/* The transfer's current packet in `packet`: the OACK while block is 0, else DATA `block`. */
static size_t current_packet(const transfer_t *transfer) {
    if (transfer->block == 0) {
        memcpy(packet, transfer->oack, transfer->oack_len);
        return transfer->oack_len;
    }
    uint64_t start = (transfer->block - 1) * transfer->blksize;
    if (start > nbp_size) {
        start = nbp_size;
    }
    uint64_t end = start + transfer->blksize;
    if (end > nbp_size) {
        end = nbp_size;
    }
    uint64_t hash = files[transfer->file].hash;
    write_u16(packet, TFTP_DATA);
    write_u16(packet + 2, (uint16_t)transfer->block);
    for (uint64_t i = start; i < end; i++) {
        packet[4 + (i - start)] = nbp_byte(hash, i);
    }
    return 4 + (size_t)(end - start);
}

static void send_current(const transfer_t *transfer) {
    size_t len = current_packet(transfer);
    send_datagram(transfer->port, transfer->peer_ip, transfer->peer_port, packet, len);
}

static void arm_timer(transfer_t *transfer) {
    transfer->timer_generation++;
    uint64_t token = ((transfer->timer_generation & 0xffffffffull) << 16) | transfer->port;
    pxelab_plugin_host_set_timer(transfer->timeout_ns, token);
}

static void put_transfer(text_t *t, const transfer_t *transfer) {
    const boot_file_t *file = &files[transfer->file];
    put_bytes(t, file->name, file->len);
    put_str(t, " to ");
    put_endpoint(t, transfer->peer_ip, transfer->peer_port);
}

static void oack_put(transfer_t *transfer, uint8_t option, const char *name, uint64_t value) {
    transfer->accepted |= option;
    text_t t = {(char *)transfer->oack, sizeof transfer->oack, transfer->oack_len};
    put_str(&t, name);
    put_bytes(&t, "", 1);
    put_u64(&t, value);
    put_bytes(&t, "", 1);
    transfer->oack_len = t.len;
}

static void tftp_on_request(const boot_server_datagram_t *d, int opcode) {
    if (opcode != TFTP_RRQ && opcode != TFTP_WRQ) {
        text_t t = log_start();
        put_str(&t, "tftp: non-request packet to port 69 from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
        return;
    }
    /* tftp_check found a filename and a mode, then whole (name, value) pairs. */
    const uint8_t *cursor = d->payload.ptr + 2;
    size_t filename_len, mode_len;
    const uint8_t *filename = next_string(&cursor, &filename_len);
    const uint8_t *mode = next_string(&cursor, &mode_len);
    const uint8_t *end = d->payload.ptr + d->payload.len;
    if (opcode == TFTP_WRQ) {
        text_t t = log_start();
        put_str(&t, "tftp: write request for ");
        put_bytes(&t, filename, filename_len);
        put_str(&t, " from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " refused");
        log_send(LEVEL_INFO, &t);
        tftp_reply_error(d->src_ip, d->src_port, TFTP_ERROR_ACCESS_VIOLATION, "Read-only server");
        return;
    }
    if (!eq_ignore_ascii_case(mode, mode_len, "octet")) {
        text_t t = log_start();
        put_str(&t, "tftp: ");
        put_bytes(&t, filename, filename_len);
        put_str(&t, " requested in mode ");
        put_bytes(&t, mode, mode_len);
        put_str(&t, ": refused");
        log_send(LEVEL_INFO, &t);
        tftp_reply_error(d->src_ip, d->src_port, TFTP_ERROR_NOT_DEFINED,
                         "Only octet mode is supported");
        return;
    }
    int file = find_file(filename, filename_len);
    if (file < 0) {
        text_t t = log_start();
        put_str(&t, "tftp: ");
        put_bytes(&t, filename, filename_len);
        put_str(&t, " requested by ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, ": not found");
        log_send(LEVEL_INFO, &t);
        tftp_reply_error(d->src_ip, d->src_port, TFTP_ERROR_FILE_NOT_FOUND, "File not found");
        return;
    }
    if (transfers_live >= TFTP_TRANSFERS_MAX) {
        text_t t = log_start();
        put_str(&t, "tftp: 1024 transfers active, ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " refused");
        log_send(LEVEL_WARNING, &t);
        tftp_reply_error(d->src_ip, d->src_port, TFTP_ERROR_NOT_DEFINED, "Server busy");
        return;
    }
    transfer_t *transfer = NULL;
    for (size_t i = 0; i < TFTP_TRANSFERS_MAX && transfer == NULL; i++) {
        if (!transfers[i].live) {
            transfer = &transfers[i];
        }
    }
    memset(transfer, 0, sizeof *transfer);
    transfer->peer_ip = d->src_ip;
    transfer->peer_port = d->src_port;
    transfer->file = (uint8_t)file;
    transfer->blksize = TFTP_BLKSIZE_DEFAULT;
    transfer->timeout_ns = TFTP_TIMEOUT_DEFAULT_NS;
    write_u16(transfer->oack, TFTP_OACK);
    transfer->oack_len = 2;
    while (cursor < end) {
        size_t name_len, value_len;
        const uint8_t *name = next_string(&cursor, &name_len);
        const uint8_t *value = next_string(&cursor, &value_len);
        uint64_t number;
        /* A repeated option is answered once, from its first accepted occurrence. */
        if (eq_ignore_ascii_case(name, name_len, "blksize")) {
            /* usize on wasm32: a value beyond u32 does not parse and is ignored. Below the
             * minimum the option is ignored (RFC 2348); above the maximum the server answers
             * with the largest size it allows. */
            if (!(transfer->accepted & OPTION_BLKSIZE) && parse_whole(value, value_len, UINT32_MAX, &number) &&
                number >= TFTP_BLKSIZE_MIN) {
                transfer->blksize = (uint32_t)(number < TFTP_BLKSIZE_ETHERNET ? number
                                                                             : TFTP_BLKSIZE_ETHERNET);
                oack_put(transfer, OPTION_BLKSIZE, "blksize", transfer->blksize);
            }
        } else if (eq_ignore_ascii_case(name, name_len, "tsize")) {
            if (!(transfer->accepted & OPTION_TSIZE)) {
                oack_put(transfer, OPTION_TSIZE, "tsize", nbp_size);
            }
        } else if (eq_ignore_ascii_case(name, name_len, "timeout")) {
            if (!(transfer->accepted & OPTION_TIMEOUT) &&
                parse_whole(value, value_len, UINT64_MAX, &number) && number >= 1 &&
                number <= 255) {
                transfer->timeout_ns = number * 1000000000ull;
                oack_put(transfer, OPTION_TIMEOUT, "timeout", number);
            }
        }
    }
    transfer->port = allocate_port();
    transfer->block = transfer->accepted ? 0 : 1;
    transfer->live = true;
    transfers_live++;
    text_t t = log_start();
    put_str(&t, "tftp: sending ");
    put_transfer(&t, transfer);
    put_str(&t, " (");
    put_u64(&t, nbp_size);
    put_str(&t, " bytes, blksize ");
    put_u64(&t, transfer->blksize);
    put_str(&t, ") from port ");
    put_u64(&t, transfer->port);
    log_send(LEVEL_INFO, &t);
    send_current(transfer);
    arm_timer(transfer);
}

static void tftp_on_transfer_packet(const boot_server_datagram_t *d, int opcode) {
    transfer_t *transfer = find_transfer(d->dst_port);
    if (transfer == NULL) {
        return;
    }
    if (d->src_ip != transfer->peer_ip || d->src_port != transfer->peer_port) {
        /* RFC 1350: a packet from a stranger gets an error and does not disturb the transfer. */
        size_t len = tftp_error_packet(TFTP_ERROR_UNKNOWN_TRANSFER_ID, "Unknown transfer ID");
        send_datagram(transfer->port, d->src_ip, d->src_port, packet, len);
        return;
    }
    const uint8_t *payload = d->payload.ptr;
    if (opcode == TFTP_ACK) {
        if (read_u16(payload + 2) != (uint16_t)transfer->block) {
            /* A duplicate ACK is not answered (the Sorcerer's Apprentice bug, RFC 1123). */
            return;
        }
        if (transfer->block == final_block(transfer)) {
            text_t t = log_start();
            put_str(&t, "tftp: ");
            put_transfer(&t, transfer);
            put_str(&t, " complete (");
            put_u64(&t, transfer->block);
            put_str(&t, " blocks)");
            log_send(LEVEL_INFO, &t);
            remove_transfer(transfer);
            return;
        }
        transfer->block++;
        transfer->retransmissions = 0;
        send_current(transfer);
        arm_timer(transfer);
    } else if (opcode == TFTP_ERROR) {
        text_t t = log_start();
        put_str(&t, "tftp: ");
        put_transfer(&t, transfer);
        put_str(&t, " ended by the client: error ");
        put_u64(&t, read_u16(payload + 2));
        put_str(&t, " ");
        put_bytes(&t, payload + 4, d->payload.len - 5);
        log_send(LEVEL_INFO, &t);
        remove_transfer(transfer);
    } else {
        text_t t = log_start();
        put_str(&t, "tftp: unexpected packet from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " on port ");
        put_u64(&t, d->dst_port);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
    }
}

static void tftp_on_datagram(const boot_server_datagram_t *d) {
    int opcode = tftp_check(d->payload.ptr, d->payload.len);
    if (opcode == 0) {
        text_t t = log_start();
        put_str(&t, "tftp: malformed packet from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
        return;
    }
    if (d->dst_port == TFTP_PORT) {
        tftp_on_request(d, opcode);
    } else {
        tftp_on_transfer_packet(d, opcode);
    }
}

static void tftp_on_timer(uint64_t token) {
    uint32_t port = (uint32_t)(token & 0xffff);
    uint64_t generation = token >> 16;
    transfer_t *transfer = find_transfer(port);
    if (transfer == NULL || (transfer->timer_generation & 0xffffffffull) != generation) {
        return;
    }
    if (transfer->retransmissions >= TFTP_RETRANSMISSIONS_MAX) {
        text_t t = log_start();
        put_str(&t, "tftp: ");
        put_transfer(&t, transfer);
        put_str(&t, " abandoned after 5 retransmissions of block ");
        put_u64(&t, transfer->block);
        log_send(LEVEL_WARNING, &t);
        remove_transfer(transfer);
        return;
    }
    transfer->retransmissions++;
    text_t t = log_start();
    put_str(&t, "tftp: retransmitting block ");
    put_u64(&t, transfer->block);
    put_str(&t, " of ");
    put_transfer(&t, transfer);
    log_send(LEVEL_DEBUG, &t);
    send_current(transfer);
    arm_timer(transfer);
}

/* ---------------------------------------------------------------------------------------------
 * The world's exports. Each ends by dropping the heap: see pxelab_heap.h.
 */

bool exports_boot_server_init(boot_server_list_tuple2_string_string_t *config,
                              boot_server_string_t *err) {
    bool ok = configure(config, err);
    if (ok) {
        text_t t = log_start();
        put_str(&t, "proxydhcp: BIOS ");
        put_bytes(&t, files[FILE_BIOS].name, files[FILE_BIOS].len);
        put_str(&t, ", EFI ");
        put_bytes(&t, files[FILE_EFI].name, files[FILE_EFI].len);
        put_str(&t, ", ");
        put_u64(&t, nbp_size);
        put_str(&t, " bytes each");
        log_send(LEVEL_INFO, &t);
    }
    /* The error text, if any, lives in static storage: it survives the reset. */
    pxelab_heap_reset();
    return ok;
}

void exports_boot_server_on_datagram(boot_server_datagram_t *d) {
    if (d->dst_port == TFTP_PORT || find_transfer(d->dst_port) != NULL) {
        tftp_on_datagram(d);
    } else if (d->dst_port == SERVER_PORT) {
        on_server_port(d);
    } else if (d->dst_port == PXE_PORT) {
        on_boot_request(d);
    } else {
        text_t t = log_start();
        put_str(&t, "proxydhcp: datagram to port ");
        put_u64(&t, d->dst_port);
        put_str(&t, " from ");
        put_endpoint(&t, d->src_ip, d->src_port);
        put_str(&t, " ignored");
        log_send(LEVEL_DEBUG, &t);
    }
    pxelab_heap_reset();
}

void exports_boot_server_on_timer(uint64_t token) {
    if (token < TFTP_TOKEN_SPAN) {
        tftp_on_timer(token);
    }
    pxelab_heap_reset();
}
