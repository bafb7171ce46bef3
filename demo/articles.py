"""Knowledge articles of the demo, in English, French and Italian."""

from __future__ import annotations

# slug, category, {language: (title, body)}
ARTICLES: list[tuple[str, str, dict[str, tuple[str, str]]]] = [
    (
        "clear-paper-jam",
        "troubleshooting",
        {
            "en": (
                "How to clear a paper jam",
                "A paper jam stops printing. Open the front cover, pull the jammed paper out "
                "slowly with both hands, check the paper tray and the duplex unit for torn "
                "pieces, then close the cover. If paper jams keep happening, check the paper "
                "weight and open a ticket.",
            ),
            "fr": (
                "Comment résoudre un bourrage papier",
                "Un bourrage papier bloque l'impression. Ouvrez le capot avant, retirez "
                "doucement le papier coincé à deux mains, vérifiez le bac papier et l'unité "
                "recto verso, puis refermez le capot. Si les bourrages papier se répètent, "
                "vérifiez le grammage et ouvrez un ticket.",
            ),
            "it": (
                "Come risolvere un inceppamento della carta",
                "Un inceppamento carta blocca la stampa. Aprite il coperchio anteriore, estraete "
                "lentamente la carta inceppata con entrambe le mani, controllate il cassetto "
                "carta e l'unità fronte retro, poi chiudete il coperchio. Se gli inceppamenti "
                "carta si ripetono, controllate la grammatura e aprite un ticket.",
            ),
        },
    ),
    (
        "replace-toner-cartridge",
        "supplies",
        {
            "en": (
                "Replacing a toner cartridge",
                "When the display shows that toner is low, shake the new cartridge gently, "
                "open the toner door, remove the empty cartridge and insert the new one until "
                "it clicks. Devices on e-Maintenance order toner automatically for their stock "
                "location.",
            ),
            "fr": (
                "Remplacer une cartouche de toner",
                "Quand l'écran indique que le toner est bas, agitez doucement la nouvelle "
                "cartouche, ouvrez la trappe, retirez la cartouche vide et insérez la nouvelle "
                "jusqu'au déclic. Les appareils sous e-Maintenance commandent le toner "
                "automatiquement pour leur lieu de stockage.",
            ),
            "it": (
                "Sostituire una cartuccia di toner",
                "Quando il display indica toner in esaurimento, agitate delicatamente la nuova "
                "cartuccia, aprite lo sportello, rimuovete la cartuccia vuota e inserite la "
                "nuova fino allo scatto. I dispositivi in e-Maintenance ordinano il toner "
                "automaticamente per il loro magazzino.",
            ),
        },
    ),
    (
        "submit-meter-readings",
        "billing",
        {
            "en": (
                "Submitting meter readings",
                "Meter readings make your invoice exact. Read the counters on the device "
                "display (total, black, colour) and enter them in the portal. A reading cannot "
                "be lower than the previous one, and each meter takes one reading per day.",
            ),
            "fr": (
                "Transmettre les relevés de compteurs",
                "Les relevés de compteurs rendent votre facture exacte. Lisez les compteurs sur "
                "l'écran de l'appareil (total, noir, couleur) et saisissez-les dans le portail. "
                "Un relevé ne peut pas être inférieur au précédent, et chaque compteur accepte "
                "un relevé par jour.",
            ),
            "it": (
                "Inviare le letture dei contatori",
                "Le letture dei contatori rendono esatta la fattura. Leggete i contatori sul "
                "display del dispositivo (totale, nero, colore) e inseriteli nel portale. Una "
                "lettura non può essere inferiore alla precedente e ogni contatore accetta una "
                "lettura al giorno.",
            ),
        },
    ),
    (
        "move-a-device",
        "account",
        {
            "en": (
                "Moving a device to another site",
                "Ask for a move in the portal: choose the target site and room and the wanted "
                "date. Our technicians disconnect, move and reinstall the device; do not move "
                "it yourself.",
            ),
            "fr": (
                "Déplacer un appareil vers un autre site",
                "Demandez un déménagement dans le portail : choisissez le site et la salle de "
                "destination et la date souhaitée. Nos techniciens débranchent, déplacent et "
                "réinstallent l'appareil ; ne le déplacez pas vous-même.",
            ),
            "it": (
                "Spostare un dispositivo in un'altra sede",
                "Richiedete uno spostamento nel portale: scegliete la sede e la stanza di "
                "destinazione e la data desiderata. I nostri tecnici scollegano, spostano e "
                "reinstallano il dispositivo; non spostatelo da soli.",
            ),
        },
    ),
    (
        "invite-colleagues",
        "account",
        {
            "en": (
                "Inviting colleagues to the portal",
                "Administrators invite colleagues by e-mail and choose their role: all devices "
                "of the account, only some devices, stock locations, or knowledge articles only.",
            ),
            "fr": (
                "Inviter des collègues sur le portail",
                "Les administrateurs invitent des collègues par e-mail et choisissent leur rôle : "
                "tous les appareils du compte, seulement certains appareils, les lieux de "
                "stockage, ou uniquement les articles de connaissance.",
            ),
            "it": (
                "Invitare colleghi nel portale",
                "Gli amministratori invitano i colleghi via e-mail e scelgono il loro ruolo: "
                "tutti i dispositivi dell'account, solo alcuni dispositivi, i magazzini, oppure "
                "solo gli articoli della knowledge base.",
            ),
        },
    ),
    (
        "scan-to-email-setup",
        "troubleshooting",
        {
            "en": (
                "Scan to e-mail does not send",
                "Check the SMTP server, port and sender address in the device's web page. Most "
                "failures come from a changed password or a blocked port.",
            ),
            "fr": (
                "La numérisation vers e-mail n'envoie rien",
                "Vérifiez le serveur SMTP, le port et l'adresse d'expéditeur dans la page web de "
                "l'appareil. La plupart des échecs viennent d'un mot de passe changé ou d'un port "
                "bloqué.",
            ),
            "it": (
                "La scansione verso e-mail non invia",
                "Controllate il server SMTP, la porta e l'indirizzo del mittente nella pagina "
                "web del dispositivo. La maggior parte degli errori deriva da una password "
                "cambiata o da una porta bloccata.",
            ),
        },
    ),
]
