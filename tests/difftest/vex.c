/*
 * The VEX forms: AVX, AVX2, FMA, F16C and VEX AES instructions on random
 * YMM registers and MXCSR, with register and memory operands, VEX.128 and
 * VEX.256, in 64-bit mode and 32-bit code. Floating-point inputs lean to
 * the values that matter (zeros, infinities, NaNs, denormals, numbers near
 * the integer limits); MXCSR gets other rounding modes, FTZ, DAZ and
 * unmasked exceptions now and then, so #XM is compared too. Now and then
 * an encoding the instruction may not allow (VEX.vvvv not 1111b where it
 * must be, the other VEX.L, a 66, F2, F3 or LOCK prefix): both sides must
 * raise #UD then.
 */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"

enum { X = 1, Y = 2, XY = 3 }; /* which VEX.L forms exist: 128, 256 */

struct vspec {
    const char *name;
    uint8_t map, pp, op;
    int8_t digit; /* ModRM.reg as an opcode extension, else -1 */
    uint8_t lmask;
    uint32_t fl;
};

/* pp values */
enum { NP, P66, PF3, PF2 };

static const struct vspec specs[] = {
    /* AVX floating point (0F map) beyond the arithmetic families of vex_forms */
    {"vsqrtps", 1, NP, 0x51, -1, XY, 0},
    {"vsqrtpd", 1, P66, 0x51, -1, XY, 0},
    {"vsqrtss", 1, PF3, 0x51, -1, X, V_NDS},
    {"vsqrtsd", 1, PF2, 0x51, -1, X, V_NDS},
    {"vrsqrtps", 1, NP, 0x52, -1, XY, 0},
    {"vrsqrtss", 1, PF3, 0x52, -1, X, V_NDS},
    {"vrcpps", 1, NP, 0x53, -1, XY, 0},
    {"vrcpss", 1, PF3, 0x53, -1, X, V_NDS},
    {"vcmpps", 1, NP, 0xc2, -1, XY, V_NDS | V_IMM},
    {"vcmppd", 1, P66, 0xc2, -1, XY, V_NDS | V_IMM},
    {"vcmpss", 1, PF3, 0xc2, -1, X, V_NDS | V_IMM},
    {"vcmpsd", 1, PF2, 0xc2, -1, X, V_NDS | V_IMM},
    {"vshufps", 1, NP, 0xc6, -1, XY, V_NDS | V_IMM},
    {"vshufpd", 1, P66, 0xc6, -1, XY, V_NDS | V_IMM},
    {"vunpcklps", 1, NP, 0x14, -1, XY, V_NDS},
    {"vunpcklpd", 1, P66, 0x14, -1, XY, V_NDS},
    {"vunpckhps", 1, NP, 0x15, -1, XY, V_NDS},
    {"vunpckhpd", 1, P66, 0x15, -1, XY, V_NDS},
    {"vhaddpd", 1, P66, 0x7c, -1, XY, V_NDS},
    {"vhaddps", 1, PF2, 0x7c, -1, XY, V_NDS},
    {"vhsubpd", 1, P66, 0x7d, -1, XY, V_NDS},
    {"vhsubps", 1, PF2, 0x7d, -1, XY, V_NDS},
    {"vaddsubpd", 1, P66, 0xd0, -1, XY, V_NDS},
    {"vaddsubps", 1, PF2, 0xd0, -1, XY, V_NDS},
    {"vmovups", 1, NP, 0x10, -1, XY, 0},
    {"vmovupd", 1, P66, 0x10, -1, XY, 0},
    {"vmovups-st", 1, NP, 0x11, -1, XY, 0},
    {"vmovupd-st", 1, P66, 0x11, -1, XY, 0},
    {"vmovss-ld", 1, PF3, 0x10, -1, X, V_MEM},
    {"vmovss-rr", 1, PF3, 0x10, -1, X, V_REG | V_NDS},
    {"vmovss-st", 1, PF3, 0x11, -1, X, V_MEM},
    {"vmovsd-ld", 1, PF2, 0x10, -1, X, V_MEM},
    {"vmovsd-rr", 1, PF2, 0x10, -1, X, V_REG | V_NDS},
    {"vmovsd-st", 1, PF2, 0x11, -1, X, V_MEM},
    {"vmovaps", 1, NP, 0x28, -1, XY, V_ALIGN},
    {"vmovapd", 1, P66, 0x28, -1, XY, V_ALIGN},
    {"vmovaps-st", 1, NP, 0x29, -1, XY, V_ALIGN},
    {"vmovapd-st", 1, P66, 0x29, -1, XY, V_ALIGN},
    {"vmovntps", 1, NP, 0x2b, -1, XY, V_MEM | V_ALIGN},
    {"vmovntpd", 1, P66, 0x2b, -1, XY, V_MEM | V_ALIGN},
    {"vmovntdq", 1, P66, 0xe7, -1, XY, V_MEM | V_ALIGN},
    {"vmovntdqa", 2, P66, 0x2a, -1, XY, V_MEM | V_ALIGN},
    {"vmovdqa", 1, P66, 0x6f, -1, XY, V_ALIGN},
    {"vmovdqa-st", 1, P66, 0x7f, -1, XY, V_ALIGN},
    {"vmovdqu", 1, PF3, 0x6f, -1, XY, 0},
    {"vmovdqu-st", 1, PF3, 0x7f, -1, XY, 0},
    {"vlddqu", 1, PF2, 0xf0, -1, XY, V_MEM},
    {"vmovd", 1, P66, 0x6e, -1, X, V_RM_GPR | V_W0},
    {"vmovq-gpr", 1, P66, 0x6e, -1, X, V_RM_GPR | V_W1},
    {"vmovd-st", 1, P66, 0x7e, -1, X, V_RM_GPR | V_W0},
    {"vmovq-gpr-st", 1, P66, 0x7e, -1, X, V_RM_GPR | V_W1},
    {"vmovq", 1, PF3, 0x7e, -1, X, 0},
    {"vmovq-st", 1, P66, 0xd6, -1, X, 0},
    {"vmovhps", 1, NP, 0x16, -1, X, V_NDS | V_MEM},
    {"vmovhpd", 1, P66, 0x16, -1, X, V_NDS | V_MEM},
    {"vmovlps", 1, NP, 0x12, -1, X, V_NDS | V_MEM},
    {"vmovlpd", 1, P66, 0x12, -1, X, V_NDS | V_MEM},
    {"vmovhlps", 1, NP, 0x12, -1, X, V_NDS | V_REG},
    {"vmovlhps", 1, NP, 0x16, -1, X, V_NDS | V_REG},
    {"vmovlps-st", 1, NP, 0x13, -1, X, V_MEM},
    {"vmovhps-st", 1, NP, 0x17, -1, X, V_MEM},
    {"vmovsldup", 1, PF3, 0x12, -1, XY, 0},
    {"vmovshdup", 1, PF3, 0x16, -1, XY, 0},
    {"vmovddup", 1, PF2, 0x12, -1, XY, 0},
    {"vucomiss", 1, NP, 0x2e, -1, X, 0},
    {"vucomisd", 1, P66, 0x2e, -1, X, 0},
    {"vcomiss", 1, NP, 0x2f, -1, X, 0},
    {"vcomisd", 1, P66, 0x2f, -1, X, 0},
    {"vcvtps2pd", 1, NP, 0x5a, -1, XY, 0},
    {"vcvtpd2ps", 1, P66, 0x5a, -1, XY, 0},
    {"vcvtss2sd", 1, PF3, 0x5a, -1, X, V_NDS},
    {"vcvtsd2ss", 1, PF2, 0x5a, -1, X, V_NDS},
    {"vcvtdq2ps", 1, NP, 0x5b, -1, XY, 0},
    {"vcvtps2dq", 1, P66, 0x5b, -1, XY, 0},
    {"vcvttps2dq", 1, PF3, 0x5b, -1, XY, 0},
    {"vcvttpd2dq", 1, P66, 0xe6, -1, XY, 0},
    {"vcvtdq2pd", 1, PF3, 0xe6, -1, XY, 0},
    {"vcvtpd2dq", 1, PF2, 0xe6, -1, XY, 0},
    {"vcvtsi2ss", 1, PF3, 0x2a, -1, X, V_NDS | V_RM_GPR | V_W0},
    {"vcvtsi2ss-q", 1, PF3, 0x2a, -1, X, V_NDS | V_RM_GPR | V_W1},
    {"vcvtsi2sd", 1, PF2, 0x2a, -1, X, V_NDS | V_RM_GPR | V_W0},
    {"vcvtsi2sd-q", 1, PF2, 0x2a, -1, X, V_NDS | V_RM_GPR | V_W1},
    {"vcvttss2si", 1, PF3, 0x2c, -1, X, V_REG_GPR | V_W0},
    {"vcvttss2si-q", 1, PF3, 0x2c, -1, X, V_REG_GPR | V_W1},
    {"vcvtss2si", 1, PF3, 0x2d, -1, X, V_REG_GPR | V_W0},
    {"vcvttsd2si", 1, PF2, 0x2c, -1, X, V_REG_GPR | V_W0},
    {"vcvtsd2si-q", 1, PF2, 0x2d, -1, X, V_REG_GPR | V_W1},
    {"vmovmskps", 1, NP, 0x50, -1, XY, V_REG_GPR | V_REG},
    {"vmovmskpd", 1, P66, 0x50, -1, XY, V_REG_GPR | V_REG},
    {"vldmxcsr", 1, NP, 0xae, 2, X, V_MEM},
    {"vstmxcsr", 1, NP, 0xae, 3, X, V_MEM},
    {"vzeroupper", 1, NP, 0x77, -1, X, V_NOMODRM},
    {"vzeroall", 1, NP, 0x77, -1, Y, V_NOMODRM},
    {"vblendps", 3, P66, 0x0c, -1, XY, V_NDS | V_IMM},
    {"vblendpd", 3, P66, 0x0d, -1, XY, V_NDS | V_IMM},
    {"vblendvps", 3, P66, 0x4a, -1, XY, V_NDS | V_IS4 | V_W0},
    {"vblendvpd", 3, P66, 0x4b, -1, XY, V_NDS | V_IS4 | V_W0},
    {"vdpps", 3, P66, 0x40, -1, XY, V_NDS | V_IMM | V_STEPS},
    {"vdppd", 3, P66, 0x41, -1, X, V_NDS | V_IMM | V_STEPS},
    {"vroundps", 3, P66, 0x08, -1, XY, V_IMM},
    {"vroundpd", 3, P66, 0x09, -1, XY, V_IMM},
    {"vroundss", 3, P66, 0x0a, -1, X, V_NDS | V_IMM},
    {"vroundsd", 3, P66, 0x0b, -1, X, V_NDS | V_IMM},
    {"vpermilps", 2, P66, 0x0c, -1, XY, V_NDS | V_W0},
    {"vpermilpd", 2, P66, 0x0d, -1, XY, V_NDS | V_W0},
    {"vpermilps-i", 3, P66, 0x04, -1, XY, V_IMM | V_W0},
    {"vpermilpd-i", 3, P66, 0x05, -1, XY, V_IMM | V_W0},
    {"vbroadcastss", 2, P66, 0x18, -1, XY, V_W0},
    {"vbroadcastsd", 2, P66, 0x19, -1, Y, V_W0},
    {"vbroadcastf128", 2, P66, 0x1a, -1, Y, V_MEM | V_W0},
    {"vinsertf128", 3, P66, 0x18, -1, Y, V_NDS | V_IMM | V_W0},
    {"vextractf128", 3, P66, 0x19, -1, Y, V_IMM | V_W0},
    {"vperm2f128", 3, P66, 0x06, -1, Y, V_NDS | V_IMM | V_W0},
    {"vmaskmovps", 2, P66, 0x2c, -1, XY, V_NDS | V_MEM | V_MASK | V_W0},
    {"vmaskmovpd", 2, P66, 0x2d, -1, XY, V_NDS | V_MEM | V_MASK | V_W0},
    {"vmaskmovps-st", 2, P66, 0x2e, -1, XY, V_NDS | V_MEM | V_MASK | V_W0},
    {"vmaskmovpd-st", 2, P66, 0x2f, -1, XY, V_NDS | V_MEM | V_MASK | V_W0},
    {"vtestps", 2, P66, 0x0e, -1, XY, V_W0},
    {"vtestpd", 2, P66, 0x0f, -1, XY, V_W0},
    {"vptest", 2, P66, 0x17, -1, XY, 0},
    /* integer: AVX at VEX.128, AVX2 at VEX.256 */
    {"vpshufd", 1, P66, 0x70, -1, XY, V_IMM},
    {"vpshufhw", 1, PF3, 0x70, -1, XY, V_IMM},
    {"vpshuflw", 1, PF2, 0x70, -1, XY, V_IMM},
    {"vpmovmskb", 1, P66, 0xd7, -1, XY, V_REG_GPR | V_REG},
    {"vpinsrw", 1, P66, 0xc4, -1, X, V_NDS | V_RM_GPR | V_IMM},
    {"vpextrw", 1, P66, 0xc5, -1, X, V_REG_GPR | V_REG | V_IMM},
    {"vpsrlw-i", 1, P66, 0x71, 2, XY, V_NDD | V_REG | V_IMM},
    {"vpsraw-i", 1, P66, 0x71, 4, XY, V_NDD | V_REG | V_IMM},
    {"vpsllw-i", 1, P66, 0x71, 6, XY, V_NDD | V_REG | V_IMM},
    {"vpsrld-i", 1, P66, 0x72, 2, XY, V_NDD | V_REG | V_IMM},
    {"vpsrad-i", 1, P66, 0x72, 4, XY, V_NDD | V_REG | V_IMM},
    {"vpslld-i", 1, P66, 0x72, 6, XY, V_NDD | V_REG | V_IMM},
    {"vpsrlq-i", 1, P66, 0x73, 2, XY, V_NDD | V_REG | V_IMM},
    {"vpsrldq", 1, P66, 0x73, 3, XY, V_NDD | V_REG | V_IMM},
    {"vpsllq-i", 1, P66, 0x73, 6, XY, V_NDD | V_REG | V_IMM},
    {"vpslldq", 1, P66, 0x73, 7, XY, V_NDD | V_REG | V_IMM},
    {"vpabsb", 2, P66, 0x1c, -1, XY, 0},
    {"vpabsw", 2, P66, 0x1d, -1, XY, 0},
    {"vpabsd", 2, P66, 0x1e, -1, XY, 0},
    {"vphminposuw", 2, P66, 0x41, -1, X, 0},
    {"vpblendw", 3, P66, 0x0e, -1, XY, V_NDS | V_IMM},
    {"vpalignr", 3, P66, 0x0f, -1, XY, V_NDS | V_IMM},
    {"vpblendvb", 3, P66, 0x4c, -1, XY, V_NDS | V_IS4 | V_W0},
    {"vmpsadbw", 3, P66, 0x42, -1, XY, V_NDS | V_IMM},
    {"vpclmulqdq", 3, P66, 0x44, -1, X, V_NDS | V_IMM | V_L0},
    {"vpextrb", 3, P66, 0x14, -1, X, V_RM_GPR | V_IMM},
    {"vpextrw-m", 3, P66, 0x15, -1, X, V_RM_GPR | V_IMM},
    {"vpextrd", 3, P66, 0x16, -1, X, V_RM_GPR | V_IMM | V_W0},
    {"vpextrq", 3, P66, 0x16, -1, X, V_RM_GPR | V_IMM | V_W1},
    {"vextractps", 3, P66, 0x17, -1, X, V_RM_GPR | V_IMM},
    {"vpinsrb", 3, P66, 0x20, -1, X, V_NDS | V_RM_GPR | V_IMM},
    {"vpinsrd", 3, P66, 0x22, -1, X, V_NDS | V_RM_GPR | V_IMM | V_W0},
    {"vpinsrq", 3, P66, 0x22, -1, X, V_NDS | V_RM_GPR | V_IMM | V_W1},
    {"vinsertps", 3, P66, 0x21, -1, X, V_NDS | V_IMM},
    {"vaesenc", 2, P66, 0xdc, -1, X, V_NDS | V_L0},
    {"vaesenclast", 2, P66, 0xdd, -1, X, V_NDS | V_L0},
    {"vaesdec", 2, P66, 0xde, -1, X, V_NDS | V_L0},
    {"vaesdeclast", 2, P66, 0xdf, -1, X, V_NDS | V_L0},
    {"vaesimc", 2, P66, 0xdb, -1, X, 0},
    {"vaeskeygenassist", 3, P66, 0xdf, -1, X, V_IMM},
    /* AVX2 only */
    {"vpermd", 2, P66, 0x36, -1, Y, V_NDS | V_W0},
    {"vpermps", 2, P66, 0x16, -1, Y, V_NDS | V_W0},
    {"vpermq", 3, P66, 0x00, -1, Y, V_IMM | V_W1},
    {"vpermpd", 3, P66, 0x01, -1, Y, V_IMM | V_W1},
    {"vpsrlvd", 2, P66, 0x45, -1, XY, V_NDS | V_W0},
    {"vpsrlvq", 2, P66, 0x45, -1, XY, V_NDS | V_W1},
    {"vpsravd", 2, P66, 0x46, -1, XY, V_NDS | V_W0},
    {"vpsllvd", 2, P66, 0x47, -1, XY, V_NDS | V_W0},
    {"vpsllvq", 2, P66, 0x47, -1, XY, V_NDS | V_W1},
    {"vpbroadcastd", 2, P66, 0x58, -1, XY, V_W0},
    {"vpbroadcastq", 2, P66, 0x59, -1, XY, V_W0},
    {"vpbroadcastb", 2, P66, 0x78, -1, XY, V_W0},
    {"vpbroadcastw", 2, P66, 0x79, -1, XY, V_W0},
    {"vbroadcasti128", 2, P66, 0x5a, -1, Y, V_MEM | V_W0},
    {"vpblendd", 3, P66, 0x02, -1, XY, V_NDS | V_IMM | V_W0},
    {"vinserti128", 3, P66, 0x38, -1, Y, V_NDS | V_IMM | V_W0},
    {"vextracti128", 3, P66, 0x39, -1, Y, V_IMM | V_W0},
    {"vperm2i128", 3, P66, 0x46, -1, Y, V_NDS | V_IMM | V_W0},
    {"vpmaskmovd", 2, P66, 0x8c, -1, XY, V_NDS | V_MEM | V_MASK | V_W0},
    {"vpmaskmovq", 2, P66, 0x8c, -1, XY, V_NDS | V_MEM | V_MASK | V_W1},
    {"vpmaskmovd-st", 2, P66, 0x8e, -1, XY, V_NDS | V_MEM | V_MASK | V_W0},
    {"vpmaskmovq-st", 2, P66, 0x8e, -1, XY, V_NDS | V_MEM | V_MASK | V_W1},
    {"vpgatherdd", 2, P66, 0x90, -1, XY, V_GATHER | V_W0},
    {"vpgatherdq", 2, P66, 0x90, -1, XY, V_GATHER | V_W1},
    {"vpgatherqd", 2, P66, 0x91, -1, XY, V_GATHER | V_QIDX | V_W0},
    {"vpgatherqq", 2, P66, 0x91, -1, XY, V_GATHER | V_QIDX | V_W1},
    {"vgatherdps", 2, P66, 0x92, -1, XY, V_GATHER | V_W0},
    {"vgatherdpd", 2, P66, 0x92, -1, XY, V_GATHER | V_W1},
    {"vgatherqps", 2, P66, 0x93, -1, XY, V_GATHER | V_QIDX | V_W0},
    {"vgatherqpd", 2, P66, 0x93, -1, XY, V_GATHER | V_QIDX | V_W1},
    /* F16C */
    {"vcvtph2ps", 2, P66, 0x13, -1, XY, V_W0},
    {"vcvtps2ph", 3, P66, 0x1d, -1, XY, V_IMM | V_W0},
};

/* Families: one opcode in several forms. */
static const struct {
    const char *name;
    uint8_t op;
} fp_arith[] = {{"add", 0x58}, {"mul", 0x59}, {"sub", 0x5c},  {"min", 0x5d}, {"div", 0x5e},
                {"max", 0x5f}, {"and", 0x54}, {"andn", 0x55}, {"or", 0x56},  {"xor", 0x57}};

/* Two-source integer instructions (66 prefix): map, opcode, name. */
static const struct {
    uint8_t map, op;
    const char *name;
} int_nds[] = {
    {1, 0xd4, "vpaddq"},      {1, 0xfe, "vpaddd"},     {1, 0xfd, "vpaddw"},
    {1, 0xfc, "vpaddb"},      {1, 0xec, "vpaddsb"},    {1, 0xed, "vpaddsw"},
    {1, 0xdc, "vpaddusb"},    {1, 0xdd, "vpaddusw"},   {1, 0xfb, "vpsubq"},
    {1, 0xfa, "vpsubd"},      {1, 0xf9, "vpsubw"},     {1, 0xf8, "vpsubb"},
    {1, 0xe8, "vpsubsb"},     {1, 0xe9, "vpsubsw"},    {1, 0xd8, "vpsubusb"},
    {1, 0xd9, "vpsubusw"},    {1, 0xdb, "vpand"},      {1, 0xdf, "vpandn"},
    {1, 0xeb, "vpor"},        {1, 0xef, "vpxor"},      {1, 0x74, "vpcmpeqb"},
    {1, 0x75, "vpcmpeqw"},    {1, 0x76, "vpcmpeqd"},   {1, 0x64, "vpcmpgtb"},
    {1, 0x65, "vpcmpgtw"},    {1, 0x66, "vpcmpgtd"},   {1, 0xd5, "vpmullw"},
    {1, 0xe5, "vpmulhw"},     {1, 0xe4, "vpmulhuw"},   {1, 0xf4, "vpmuludq"},
    {1, 0xf5, "vpmaddwd"},    {1, 0xf6, "vpsadbw"},    {1, 0xe0, "vpavgb"},
    {1, 0xe3, "vpavgw"},      {1, 0xda, "vpminub"},    {1, 0xde, "vpmaxub"},
    {1, 0xea, "vpminsw"},     {1, 0xee, "vpmaxsw"},    {1, 0x60, "vpunpcklbw"},
    {1, 0x61, "vpunpcklwd"},  {1, 0x62, "vpunpckldq"}, {1, 0x6c, "vpunpcklqdq"},
    {1, 0x68, "vpunpckhbw"},  {1, 0x69, "vpunpckhwd"}, {1, 0x6a, "vpunpckhdq"},
    {1, 0x6d, "vpunpckhqdq"}, {1, 0x63, "vpacksswb"},  {1, 0x6b, "vpackssdw"},
    {1, 0x67, "vpackuswb"},   {1, 0xd1, "vpsrlw"},     {1, 0xd2, "vpsrld"},
    {1, 0xd3, "vpsrlq"},      {1, 0xe1, "vpsraw"},     {1, 0xe2, "vpsrad"},
    {1, 0xf1, "vpsllw"},      {1, 0xf2, "vpslld"},     {1, 0xf3, "vpsllq"},
    {2, 0x00, "vpshufb"},     {2, 0x01, "vphaddw"},    {2, 0x02, "vphaddd"},
    {2, 0x03, "vphaddsw"},    {2, 0x05, "vphsubw"},    {2, 0x06, "vphsubd"},
    {2, 0x07, "vphsubsw"},    {2, 0x04, "vpmaddubsw"}, {2, 0x08, "vpsignb"},
    {2, 0x09, "vpsignw"},     {2, 0x0a, "vpsignd"},    {2, 0x0b, "vpmulhrsw"},
    {2, 0x28, "vpmuldq"},     {2, 0x29, "vpcmpeqq"},   {2, 0x2b, "vpackusdw"},
    {2, 0x37, "vpcmpgtq"},    {2, 0x38, "vpminsb"},    {2, 0x39, "vpminsd"},
    {2, 0x3a, "vpminuw"},     {2, 0x3b, "vpminud"},    {2, 0x3c, "vpmaxsb"},
    {2, 0x3d, "vpmaxsd"},     {2, 0x3e, "vpmaxuw"},    {2, 0x3f, "vpmaxud"},
    {2, 0x40, "vpmulld"},
};

bool dt_host_avx2(void)
{
    unsigned a, b, c, d, xa, xd;

    if (!__get_cpuid(1, &a, &b, &c, &d) || (c & (bit_OSXSAVE | bit_AVX | bit_FMA | bit_F16C)) !=
                                               (bit_OSXSAVE | bit_AVX | bit_FMA | bit_F16C))
        return false;
    __asm__("xgetbv" : "=a"(xa), "=d"(xd) : "c"(0));
    return (xa & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX2);
}

static void add_spec(void (*add)(struct form f, const char *name), const char *name, uint8_t map,
                     uint8_t pp, uint8_t op, int digit, uint8_t lmask, uint32_t fl)
{
    char n[40];

    for (uint8_t l = 0; l < 2; l++) {
        if (!(lmask & (1u << l)))
            continue;
        snprintf(n, sizeof(n), "%s/%c", name, l ? 'y' : 'x');
        add((struct form){.op = {op},
                          .nop = 1,
                          .modrm = (int8_t)(fl & V_NOMODRM ? MODRM_NONE
                                            : digit >= 0   ? digit
                                                           : MODRM_R),
                          .rm = fl & V_MEM   ? RM_MEM
                                : fl & V_REG ? RM_REG
                                             : RM_ANY,
                          .imm = fl & (V_IMM | V_IS4) ? IMM_B : IMM_0,
                          .kind = K_VEX,
                          .modes = M64 | M32,
                          .vmap = map,
                          .vpp = pp,
                          .vl = l,
                          .vflags = fl},
            n);
    }
}

void vex_forms(void (*add)(struct form f, const char *name))
{
    static const char *const suffix[4] = {"ps", "pd", "ss", "sd"};
    static const char *const fma_ops[] = {"fmadd", "fmsub", "fnmadd", "fnmsub"};
    static const char *const fma_order[] = {"132", "213", "231"};
    char n[40];

    if (!dt_host_avx2())
        return;
    for (unsigned i = 0; i < sizeof(fp_arith) / sizeof(fp_arith[0]); i++)
        for (uint8_t pp = 0; pp < (fp_arith[i].op < 0x58 ? 2 : 4); pp++) {
            snprintf(n, sizeof(n), "v%s%s", fp_arith[i].name, suffix[pp]);
            add_spec(add, n, 1, pp, fp_arith[i].op, -1, pp < 2 ? XY : X, V_NDS);
        }
    for (unsigned i = 0; i < sizeof(int_nds) / sizeof(int_nds[0]); i++)
        add_spec(add, int_nds[i].name, int_nds[i].map, P66, int_nds[i].op, -1, XY, V_NDS);
    for (uint8_t op = 0; op < 6; op++) { /* VPMOVSX*, VPMOVZX* */
        static const char *const w[6] = {"bw", "bd", "bq", "wd", "wq", "dq"};

        snprintf(n, sizeof(n), "vpmovsx%s", w[op]);
        add_spec(add, n, 2, P66, (uint8_t)(0x20 + op), -1, XY, 0);
        snprintf(n, sizeof(n), "vpmovzx%s", w[op]);
        add_spec(add, n, 2, P66, (uint8_t)(0x30 + op), -1, XY, 0);
    }
    /* FMA: 0F38 98-9F, A8-AF, B8-BF (132, 213, 231); even packed, odd
     * scalar; W0 single, W1 double. And fmaddsub/fmsubadd at 96/97 + 16n. */
    for (unsigned o = 0; o < 3; o++) {
        for (unsigned k = 0; k < 4; k++) {
            uint8_t op = (uint8_t)(0x98 + 0x10 * o + 2 * k);

            for (unsigned d = 0; d < 2; d++) {
                snprintf(n, sizeof(n), "v%s%s%s", fma_ops[k], fma_order[o], suffix[d]);
                add_spec(add, n, 2, P66, op, -1, XY, V_NDS | (d ? V_W1 : V_W0));
                snprintf(n, sizeof(n), "v%s%s%s", fma_ops[k], fma_order[o], suffix[2 + d]);
                add_spec(add, n, 2, P66, (uint8_t)(op + 1), -1, X, V_NDS | (d ? V_W1 : V_W0));
            }
        }
        for (unsigned d = 0; d < 2; d++) {
            snprintf(n, sizeof(n), "vfmaddsub%s%s", fma_order[o], suffix[d]);
            add_spec(add, n, 2, P66, (uint8_t)(0x96 + 0x10 * o), -1, XY, V_NDS | (d ? V_W1 : V_W0));
            snprintf(n, sizeof(n), "vfmsubadd%s%s", fma_order[o], suffix[d]);
            add_spec(add, n, 2, P66, (uint8_t)(0x97 + 0x10 * o), -1, XY, V_NDS | (d ? V_W1 : V_W0));
        }
    }
    for (unsigned i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
        add_spec(add, specs[i].name, specs[i].map, specs[i].pp, specs[i].op, specs[i].digit,
                 specs[i].lmask, specs[i].fl);
}

/* Floating-point values worth a case: zeros, ones, extremes, denormals,
 * infinities, quiet and signalling NaNs, values at the integer limits. */
static const uint32_t singles[] = {0x00000000, 0x80000000, 0x3f800000, 0xbfc00000, 0x7f7fffff,
                                   0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7fc00000,
                                   0x7fa00000, 0x3dcccccd, 0x4f000000, 0xcf000000, 0x477fe000,
                                   0x33800000, 0x3f000000, 0x4b7fffff};
static const uint64_t doubles[] = {0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000,
                                   0xc004000000000000, 0x7fefffffffffffff, 0x0000000000000001,
                                   0x800fffffffffffff, 0x7ff0000000000000, 0xfff0000000000000,
                                   0x7ff8000000000000, 0x7ff4000000000000, 0x3fb999999999999a,
                                   0x43e0000000000000, 0xc3e0000000000000, 0x41e0000000000000,
                                   0x3fe0000000000000, 0x36a0000000000000};

static void rand_vector(struct rng *r, uint8_t *y)
{
    for (int q = 0; q < 4; q++) {
        uint64_t v;

        switch (rng_below(r, 8)) {
        case 0:
        case 1:
            v = (uint64_t)singles[rng_below(r, sizeof(singles) / 4)] |
                (uint64_t)singles[rng_below(r, sizeof(singles) / 4)] << 32;
            break;
        case 2:
        case 3:
            v = doubles[rng_below(r, sizeof(doubles) / 8)];
            break;
        case 4:
            v = rng_value(r);
            break;
        default:
            v = rng_next(r);
            break;
        }
        if (rng_chance(r, 20)) /* a sign flipped, an ulp away */
            v ^= rng_chance(r, 50) ? 1ULL << 63 : 1;
        memcpy(y + 8 * q, &v, 8);
    }
}

static uint64_t rand_mxcsr(struct rng *r)
{
    uint32_t m = 0x1f80; /* all masked, round to nearest */

    if (rng_chance(r, 30))
        m |= (uint32_t)rng_below(r, 4) << 13; /* rounding control */
    if (rng_chance(r, 10))
        m |= 1u << 15; /* FTZ */
    if (rng_chance(r, 10))
        m |= 1u << 6; /* DAZ */
    if (rng_chance(r, 20))
        m |= (uint32_t)rng_below(r, 64); /* sticky flags */
    /* Unmasked: #XM. Not OM or UM: the engine runs an instruction with
     * every exception masked and works #XM out from the flags, which
     * cannot see a tiny exact result (an underflow only when UM is 0) nor
     * which element an unmasked overflow or underflow came from (its PE
     * is then not reported, another element's is). */
    if (rng_chance(r, 20))
        m &= ~((uint32_t)rng_below(r, 16) << 7 & 0x1380); /* IM DM ZM PM */
    return m;
}

/* Three distinct vector registers (mostly: two alike must #UD). */
static void distinct3(struct gen *g, int nv, int *a, int *b, int *c)
{
    bool same_ok = rng_chance(g->r, 5);

    do {
        *a = (int)rng_below(g->r, (uint64_t)nv);
        *b = (int)rng_below(g->r, (uint64_t)nv);
        *c = (int)rng_below(g->r, (uint64_t)nv);
    } while (!same_ok && (*a == *b || *a == *c || *b == *c));
}

/* VSIB: [base + index[j] * scale + disp] with small indices around the
 * middle of the data page. */
static void gather_address(struct gen *g, int nv)
{
    struct dt_case *c = g->c;
    struct rng *r = g->r;
    unsigned isize = g->f->vflags & V_QIDX ? 8 : 4, mod = (unsigned)rng_below(r, 3);
    int dst, idx, msk, base = -1;
    uint64_t target = gen_offset_of(g, DT_DATA + 2048);
    int32_t disp = 0;

    distinct3(g, nv, &dst, &idx, &msk);
    g->reg = dst;
    g->vvvv = (uint8_t)msk;
    for (unsigned j = 0; j < 32 / isize; j++) {
        int64_t v = (int64_t)rng_below(r, 64) - 32;

        memcpy(c->in.ymm[idx] + j * isize, &v, isize);
    }
    g->has_modrm = g->has_sib = true;
    if (mod == 0 && rng_chance(r, 30)) { /* no base: disp32 */
        g->disp_size = 4;
        disp = (int32_t)target;
    } else {
        base = gen_pick_reg(g, 1u << R_SP);
        if (mod == 0 && (base & 7) == 5)
            mod = 1;
        g->disp_size = mod == 0 ? 0 : mod == 1 ? 1 : 4;
        disp = mod == 1 ? (int8_t)rng_next(r) : mod == 2 ? (int32_t)rng_below(r, 4096) - 2048 : 0;
        c->in.gpr[base] = target - (uint64_t)(int64_t)disp;
    }
    g->disp = (uint32_t)disp;
    g->modrm = (uint8_t)(mod << 6 | (dst & 7) << 3 | 4);
    g->sib =
        (uint8_t)(rng_below(r, 4) << 6 | (unsigned)(idx & 7) << 3 | (base >= 0 ? base & 7 : 5));
    g->rex |= (uint8_t)((dst >> 3) << 2 | (idx >> 3) << 1 | (base >= 0 ? base >> 3 : 0));
}

bool vex_build(struct gen *g)
{
    const struct form *f = g->f;
    struct dt_case *c = g->c;
    struct rng *r = g->r;
    uint32_t fl = f->vflags;
    int nv = g->m32 ? 8 : 16;

    c->vec = true;
    if (g->m32) /* SDM Vol. 1 §3.4.1.1: upper halves undefined in compatibility mode */
        for (int i = 0; i < 16; i++)
            c->regs_undef[i] = i < 8 ? 0xffffffff00000000ULL : ~0ULL;
    c->in.mxcsr = rand_mxcsr(r);
    /* DPPS and DPPD multiply, then add: a denormal product is the add's
     * pre-computation exception, reported with the multiply's flags, which
     * the masked run of the engine cannot tell from a denormal input. */
    if (fl & V_STEPS)
        c->in.mxcsr |= 0x1f80;
    for (int i = 0; i < 16; i++)
        rand_vector(r, c->in.ymm[i]);
    g->vl = f->vl;
    if (!(fl & V_L0) && rng_chance(r, 2)) /* the other length: #UD where the form has none */
        g->vl ^= 1;
    g->vw = fl & V_W1 ? 1 : fl & V_W0 ? 0 : (uint8_t)rng_below(r, 2);
    g->vvvv = 0; /* 1111b once inverted */
    if (fl & (V_NDS | V_NDD | V_MASK))
        g->vvvv = (uint8_t)rng_below(r, (uint64_t)nv);
    else if (rng_chance(r, 2))
        g->vvvv = (uint8_t)(1 + rng_below(r, (uint64_t)nv - 1)); /* reserved: #UD */
    if (fl & V_GATHER) {
        gather_address(g, nv);
    } else if (f->modrm != MODRM_NONE) {
        g->reg = f->modrm == MODRM_R
                     ? fl & V_REG_GPR ? gen_pick_reg(g, 0) : (int)rng_below(r, (uint64_t)nv)
                     : f->modrm;
        g->mem = f->rm == RM_MEM || (f->rm == RM_ANY && rng_chance(r, 50));
        if (g->mem) {
            uint64_t addr = DT_DATA + 64 + rng_below(r, DT_DATA_SIZE - 160);

            if ((fl & V_ALIGN) && rng_chance(r, 90))
                addr &= ~((16ULL << g->vl) - 1);
            if (!g->m32 && rng_chance(r, 10)) {
                g->a32 = true;
                gen_add_prefix(g, 0x67);
            }
            gen_pick_segment(g, true);
            gen_pick_address(g, addr, 0);
            if (!strncmp(f->name, "vldmxcsr", 8)) {
                /* An AMD host's MXCSR_MASK has bit 17 (MM, misaligned SSE),
                 * which vx86's CPU model does not offer: such a value loads
                 * natively and takes #GP on the engine, as it should. */
                uint32_t v;

                memcpy(&v, c->data + (addr - DT_DATA), 4);
                v &= ~(1u << 17);
                memcpy(c->data + (addr - DT_DATA), &v, 4);
            }
        } else {
            g->has_modrm = true;
            g->rm = fl & V_RM_GPR ? gen_pick_reg(g, 0) : (int)rng_below(r, (uint64_t)nv);
            g->modrm = (uint8_t)(0xc0 | (g->rm & 7));
            g->rex |= (uint8_t)(g->rm >> 3);
        }
        g->modrm |= (uint8_t)((g->reg & 7) << 3);
        if (f->modrm == MODRM_R)
            g->rex |= (uint8_t)((g->reg >> 3) << 2);
    }
    if (fl & V_IS4) {
        g->imm_size = 1;
        g->imm = rng_below(r, (uint64_t)nv) << 4 | rng_below(r, 16);
    } else if (fl & V_IMM) {
        g->imm_size = 1;
        g->imm = rng_next(r) & 0xff;
    }
    if (rng_chance(r, 1)) /* 66, F2, F3 or LOCK before VEX: #UD */
        gen_add_prefix(g, (uint8_t[]){0x66, 0xf2, 0xf3, 0xf0}[rng_below(r, 4)]);
    g->vex2 = rng_chance(r, 50);
    return gen_emit(g);
}

int vex_prefix(const struct gen *g, uint8_t *b)
{
    const struct form *f = g->f;
    uint8_t rex = g->rex, v = (uint8_t)(~g->vvvv & 15);

    /* VEX.R, X, B and vvvv are stored inverted (SDM Vol. 2A §2.3.5). */
    if (g->vex2 && f->vmap == 1 && !g->vw && !(rex & 3)) {
        b[0] = 0xc5;
        b[1] = (uint8_t)(!(rex & 4) << 7 | v << 3 | g->vl << 2 | f->vpp);
        return 2;
    }
    b[0] = 0xc4;
    b[1] = (uint8_t)(!(rex & 4) << 7 | !(rex & 2) << 6 | !(rex & 1) << 5 | f->vmap);
    b[2] = (uint8_t)(g->vw << 7 | v << 3 | g->vl << 2 | f->vpp);
    return 3;
}
