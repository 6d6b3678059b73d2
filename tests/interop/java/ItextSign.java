import com.itextpdf.text.pdf.PdfReader;
import com.itextpdf.text.pdf.PdfSignatureAppearance;
import com.itextpdf.text.pdf.PdfStamper;
import com.itextpdf.text.pdf.security.BouncyCastleDigest;
import com.itextpdf.text.pdf.security.DigestAlgorithms;
import com.itextpdf.text.pdf.security.ExternalSignature;
import com.itextpdf.text.pdf.security.MakeSignature;
import com.itextpdf.text.pdf.security.PrivateKeySignature;
import com.itextpdf.text.pdf.security.TSAClient;
import com.itextpdf.text.pdf.security.TSAClientBouncyCastle;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.Certificate;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

/**
 * Counter-signs the prepared signature field of a PDF with iText 5, as the many desktop and server signers built
 * on iText do: an incremental update (append mode), CAdES, with an RFC 3161 timestamp when a TSA URL is given.
 *
 * <p>Usage: {@code java ItextSign INPUT OUTPUT PKCS12 FIELD [TSA_URL]}; the PKCS#12 passphrase is read from the
 * environment variable {@code SIGNER_P12_PASSPHRASE}, never from the command line.
 */
public final class ItextSign {
    private ItextSign() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 4 || args.length > 5) {
            System.err.println("usage: ItextSign INPUT OUTPUT PKCS12 FIELD [TSA_URL]");
            System.exit(2);
        }
        char[] passphrase = System.getenv("SIGNER_P12_PASSPHRASE").toCharArray();
        BouncyCastleProvider provider = new BouncyCastleProvider();
        Security.addProvider(provider);
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(args[2])) {
            store.load(in, passphrase);
        }
        String alias = store.aliases().nextElement();
        PrivateKey key = (PrivateKey) store.getKey(alias, passphrase);
        Certificate[] chain = store.getCertificateChain(alias);

        PdfReader reader = new PdfReader(args[0]);
        try (OutputStream out = new FileOutputStream(args[1])) {
            PdfStamper stamper = PdfStamper.createSignature(reader, out, '\0', null, true);
            PdfSignatureAppearance appearance = stamper.getSignatureAppearance();
            appearance.setReason("Namens Verwerkingsverantwoordelijke");
            appearance.setVisibleSignature(args[3]);
            ExternalSignature signature = new PrivateKeySignature(key, DigestAlgorithms.SHA256, provider.getName());
            TSAClient tsa = args.length == 5 ? new TSAClientBouncyCastle(args[4], null, null, 8192, "SHA-256") : null;
            MakeSignature.signDetached(
                    appearance, new BouncyCastleDigest(), signature, chain, null, null, tsa, 0,
                    MakeSignature.CryptoStandard.CADES);
        }
    }
}
