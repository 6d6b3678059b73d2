import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.HttpURLConnection;
import java.net.URL;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Calendar;
import org.apache.pdfbox.cos.COSName;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.PDResources;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.graphics.form.PDFormXObject;
import org.apache.pdfbox.pdmodel.interactive.annotation.PDAnnotationWidget;
import org.apache.pdfbox.pdmodel.interactive.annotation.PDAppearanceDictionary;
import org.apache.pdfbox.pdmodel.interactive.annotation.PDAppearanceStream;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureInterface;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureOptions;
import org.apache.pdfbox.pdmodel.interactive.form.PDAcroForm;
import org.apache.pdfbox.pdmodel.interactive.form.PDSignatureField;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.SignerInformationStore;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.TSPAlgorithms;
import org.bouncycastle.tsp.TimeStampRequest;
import org.bouncycastle.tsp.TimeStampRequestGenerator;
import org.bouncycastle.tsp.TimeStampResponse;

/**
 * Counter-signs the prepared signature field of a PDF with Apache PDFBox 2, the way PDFBox's own signing examples
 * do: the field's /V set to a new signature, a visible appearance at the field's own rectangle (a signature
 * template, as in PDFBox's CreateVisibleSignature2), {@code saveIncremental}, a CMS built with Bouncy Castle
 * (adbe.pkcs7.detached), and an RFC 3161 signature timestamp as an unsigned attribute when a TSA URL is given.
 *
 * <p>Usage: {@code java PdfboxSign INPUT OUTPUT PKCS12 FIELD [TSA_URL]}; the PKCS#12 passphrase is read from the
 * environment variable {@code SIGNER_P12_PASSPHRASE}, never from the command line.
 */
public final class PdfboxSign implements SignatureInterface {
    private final PrivateKey key;
    private final Certificate[] chain;
    private final String tsaUrl;

    private PdfboxSign(PrivateKey key, Certificate[] chain, String tsaUrl) {
        this.key = key;
        this.chain = chain;
        this.tsaUrl = tsaUrl;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4 || args.length > 5) {
            System.err.println("usage: PdfboxSign INPUT OUTPUT PKCS12 FIELD [TSA_URL]");
            System.exit(2);
        }
        char[] passphrase = System.getenv("SIGNER_P12_PASSPHRASE").toCharArray();
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(args[2])) {
            store.load(in, passphrase);
        }
        String alias = store.aliases().nextElement();
        PdfboxSign signer = new PdfboxSign(
                (PrivateKey) store.getKey(alias, passphrase), store.getCertificateChain(alias),
                args.length == 5 ? args[4] : null);

        try (PDDocument document = PDDocument.load(new File(args[0]));
                OutputStream out = new FileOutputStream(args[1])) {
            PDAcroForm form = document.getDocumentCatalog().getAcroForm();
            PDSignatureField field = (PDSignatureField) form.getField(args[3]);
            if (field == null || field.getSignature() != null) {
                throw new IllegalStateException("no empty signature field " + args[3]);
            }
            PDSignature signature = new PDSignature();
            signature.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
            signature.setSubFilter(PDSignature.SUBFILTER_ADBE_PKCS7_DETACHED);
            signature.setReason("Namens Verwerkingsverantwoordelijke");
            signature.setSignDate(Calendar.getInstance());
            field.getCOSObject().setItem(COSName.V, signature);
            PDAnnotationWidget widget = field.getWidgets().get(0);
            int page = document.getPages().indexOf(widget.getPage());
            try (SignatureOptions options = new SignatureOptions()) {
                options.setVisualSignature(appearance(document, page, widget.getRectangle()));
                options.setPage(page);
                document.addSignature(signature, signer, options);
                document.saveIncremental(out);
            }
        }
    }

    /** A one-page template whose signature widget at {@code rect} shows who signed (PDFBox's visual signature). */
    private static InputStream appearance(PDDocument source, int page, PDRectangle rect) throws IOException {
        try (PDDocument template = new PDDocument()) {
            template.addPage(new PDPage(source.getPage(page).getMediaBox()));
            PDAcroForm form = new PDAcroForm(template);
            template.getDocumentCatalog().setAcroForm(form);
            PDSignatureField field = new PDSignatureField(form);
            PDAnnotationWidget widget = field.getWidgets().get(0);
            widget.setRectangle(rect);
            form.getFields().add(field);
            PDFormXObject xobject = new PDFormXObject(template);
            xobject.setResources(new PDResources());
            xobject.setBBox(new PDRectangle(rect.getWidth(), rect.getHeight()));
            PDAppearanceStream stream = new PDAppearanceStream(xobject.getCOSObject());
            PDAppearanceDictionary appearance = new PDAppearanceDictionary();
            appearance.setNormalAppearance(stream);
            widget.setAppearance(appearance);
            try (PDPageContentStream content = new PDPageContentStream(template, stream)) {
                content.beginText();
                content.setFont(PDType1Font.HELVETICA, 10);
                content.newLineAtOffset(4, rect.getHeight() - 14);
                content.showText("Digitally signed (PDFBox)");
                content.endText();
            }
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            template.save(buffer);
            return new ByteArrayInputStream(buffer.toByteArray());
        }
    }

    @Override
    public byte[] sign(InputStream content) throws IOException {
        try {
            X509Certificate certificate = (X509Certificate) chain[0];
            String algorithm = "EC".equals(key.getAlgorithm()) ? "SHA256withECDSA" : "SHA256withRSA";
            ContentSigner contentSigner = new JcaContentSignerBuilder(algorithm).build(key);
            CMSSignedDataGenerator generator = new CMSSignedDataGenerator();
            generator.addSignerInfoGenerator(
                    new JcaSignerInfoGeneratorBuilder(new JcaDigestCalculatorProviderBuilder().build())
                            .build(contentSigner, certificate));
            generator.addCertificates(new JcaCertStore(Arrays.asList(chain)));
            CMSSignedData signed = generator.generate(new CMSProcessableByteArray(content.readAllBytes()), false);
            return (tsaUrl == null ? signed : withTimestamp(signed)).getEncoded();
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    /** The signed data with a signature timestamp token over its signer's signature value (RFC 3161 §3.4). */
    private CMSSignedData withTimestamp(CMSSignedData signed) throws Exception {
        SignerInformation signer = signed.getSignerInfos().getSigners().iterator().next();
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(signer.getSignature());
        TimeStampRequestGenerator requests = new TimeStampRequestGenerator();
        requests.setCertReq(true);
        TimeStampRequest request = requests.generate(
                TSPAlgorithms.SHA256, digest, new BigInteger(64, new SecureRandom()));
        TimeStampResponse response = new TimeStampResponse(post(request.getEncoded()));
        response.validate(request);
        if (response.getTimeStampToken() == null) {
            throw new IOException("the TSA refused: " + response.getStatusString());
        }
        ASN1EncodableVector attributes = new ASN1EncodableVector();
        attributes.add(new Attribute(
                PKCSObjectIdentifiers.id_aa_signatureTimeStampToken,
                new DERSet(ASN1Primitive.fromByteArray(response.getTimeStampToken().getEncoded()))));
        SignerInformation stamped = SignerInformation.replaceUnsignedAttributes(signer, new AttributeTable(attributes));
        return CMSSignedData.replaceSigners(signed, new SignerInformationStore(stamped));
    }

    private byte[] post(byte[] body) throws IOException {
        HttpURLConnection connection = (HttpURLConnection) new URL(tsaUrl).openConnection();
        connection.setDoOutput(true);
        connection.setRequestMethod("POST");
        connection.setRequestProperty("Content-Type", "application/timestamp-query");
        connection.setConnectTimeout(10000);
        connection.setReadTimeout(10000);
        try (OutputStream out = connection.getOutputStream()) {
            out.write(body);
        }
        if (connection.getResponseCode() != 200) {
            throw new IOException("the TSA answered HTTP " + connection.getResponseCode());
        }
        try (InputStream in = connection.getInputStream(); ByteArrayOutputStream buffer = new ByteArrayOutputStream()) {
            in.transferTo(buffer);
            return buffer.toByteArray();
        }
    }
}
